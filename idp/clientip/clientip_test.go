package clientip

import (
	"context"
	"net/http/httptest"
	"testing"
)

func TestOf(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	none, _ := New(nil)
	cases := []struct {
		name   string
		res    *Resolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxies ignores the header", none, "10.1.2.3:5555", []string{"198.51.100.1"}, "10.1.2.3"},
		{"untrusted peer ignores the header", r, "203.0.113.9:80", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer, one hop", r, "10.1.2.3:5555", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries on the left are skipped", r, "10.1.2.3:5555", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", r, "10.1.2.3:5555", []string{"198.51.100.1, 192.0.2.7, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", r, "10.1.2.3:5555", []string{"6.6.6.6", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},
		{"all trusted gives the leftmost", r, "10.1.2.3:5555", []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4"},
		{"garbage stops at the last vouched hop", r, "10.1.2.3:5555", []string{"198.51.100.1, nonsense"}, "10.1.2.3"},
		{"no header", r, "10.1.2.3:5555", nil, "10.1.2.3"},
		{"ipv6 peer and client", r, "[2001:db8::1]:443", []string{"2001:db9::5"}, "2001:db9::5"},
		{"mapped ipv4 peer", r, "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, "198.51.100.1"},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		for _, h := range c.xff {
			req.Header.Add("X-Forwarded-For", h)
		}
		if got := c.res.Of(req); got != c.want {
			t.Errorf("%s: Of = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestNewRejectsBadEntries(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.com", "", "10.0.0"} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestFromPrefersContext(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.1:1"
	if got := From(req); got != "10.0.0.1" {
		t.Errorf("From without context = %q", got)
	}
	req = req.WithContext(WithIP(context.Background(), "198.51.100.1"))
	if got := From(req); got != "198.51.100.1" {
		t.Errorf("From with context = %q", got)
	}
}

func TestBucket(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.1":          "198.51.100.1",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::99": "2001:db8:1:2::/64",
		"junk":                  "junk",
	} {
		if got := Bucket(in); got != want {
			t.Errorf("Bucket(%q) = %q, want %q", in, got, want)
		}
	}
}
