// Command proxy is the round-robin HTTP proxy of bench/replicas.sh: it
// spreads requests over provider replicas the way a load balancer in
// front of them would, one request each in turn, with no affinity (the
// replicas keep no state of their own: sessions, ceremonies and codes are
// in the database).
//
//	proxy -listen 127.0.0.1:19700 -to http://127.0.0.1:19701,http://127.0.0.1:19702
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19700", "address to serve on")
	to := flag.String("to", "", "comma-separated replica base URLs")
	flag.Parse()
	backends, err := parseBackends(*to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy: -to:", err)
		os.Exit(2)
	}
	log.Fatal(http.ListenAndServe(*listen, newProxy(backends)))
}

func parseBackends(list string) ([]*url.URL, error) {
	var out []*url.URL
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("%q is not a base URL (http://host:port)", s)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("name at least one replica")
	}
	return out, nil
}

// newProxy sends each request to the next backend in turn. The Host
// header is kept: every replica serves the same issuer.
func newProxy(backends []*url.URL) http.Handler {
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			b := backends[(next.Add(1)-1)%uint64(len(backends))]
			r.SetURL(b)
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	}
}
