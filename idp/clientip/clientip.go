// Package clientip decides which address a request comes from. Behind a
// reverse proxy the peer is the proxy; the member's address is then in
// X-Forwarded-For, which anyone can write. It is believed only as far as
// the hops that appended to it are proxies the admin listed as trusted.
package clientip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds the client address of a request.
type Resolver struct {
	trusted []netip.Prefix
}

// New makes a resolver trusting the proxies given as CIDR ranges or single
// addresses. No proxies: the peer address is always the client.
func New(proxies []string) (*Resolver, error) {
	r := &Resolver{}
	for i, p := range proxies {
		prefix, err := ParseProxy(p)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
		}
		r.trusted = append(r.trusted, prefix)
	}
	return r, nil
}

// ParseProxy parses one trusted proxy entry: "10.0.0.0/8", "192.0.2.7" or
// "2001:db8::/32".
func ParseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR range", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Of returns the client address of req. When the peer is a trusted proxy,
// X-Forwarded-For is read from the right (the hop our proxy added) leftwards,
// skipping trusted proxies; the first other address is the client. Entries
// further left were written by the client itself and are never believed.
func (r *Resolver) Of(req *http.Request) string {
	peer, ok := parseAddr(req.RemoteAddr)
	if !ok {
		return req.RemoteAddr
	}
	if len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer.String()
	}
	client := peer
	hops := req.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseAddr(strings.TrimSpace(parts[j]))
			if !ok {
				// Garbage: stop at the last address a trusted hop vouched for.
				return client.String()
			}
			client = a
			if !r.isTrusted(a) {
				return a.String()
			}
		}
	}
	return client.String()
}

// parseAddr reads "ip", "ip:port" or "[ipv6]:port".
func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

type ctxKey struct{}

// WithIP records the client address of the request being served.
func WithIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ctxKey{}, ip)
}

// FromContext returns the address recorded by WithIP, or "".
func FromContext(ctx context.Context) string {
	ip, _ := ctx.Value(ctxKey{}).(string)
	return ip
}

// From returns the client address of req: the one the server's middleware
// recorded, else the peer address.
func From(req *http.Request) string {
	if ip := FromContext(req.Context()); ip != "" {
		return ip
	}
	if a, ok := parseAddr(req.RemoteAddr); ok {
		return a.String()
	}
	return req.RemoteAddr
}

// Bucket is the address to count abuse under. An IPv6 client usually holds
// a whole /64, so counting per address would let it rotate freely.
func Bucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is6() && !a.Is4In6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
