package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// browser is what a member's browser does for the sign-in pages: it keeps
// cookies, follows redirects while they stay on the provider, submits the
// pages' forms and calls the passkey JSON endpoints as the page script
// does. A redirect that leaves the provider (to the client's redirect URI)
// is returned, never followed.
type browser struct {
	base   *url.URL
	client *http.Client
}

func newBrowser(base *url.URL, transport http.RoundTripper) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{base: base, client: &http.Client{
		Jar:       jar,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// page is a provider page, or the redirect that left the provider.
type page struct {
	url    *url.URL
	status int
	doc    *html.Node
	away   *url.URL
}

func (b *browser) do(req *http.Request) (*page, error) {
	for range 10 {
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("%s %s: bad Location: %w", req.Method, req.URL.Path, err)
			}
			if loc.Host != b.base.Host || loc.Scheme != b.base.Scheme {
				return &page{url: req.URL, status: resp.StatusCode, away: loc}, nil
			}
			req, _ = http.NewRequestWithContext(req.Context(), http.MethodGet, loc.String(), nil)
			continue
		}
		if resp.StatusCode >= 400 {
			return nil, fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, resp.StatusCode, snippet(body))
		}
		doc, err := html.Parse(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
		return &page{url: req.URL, status: resp.StatusCode, doc: doc}, nil
	}
	return nil, fmt.Errorf("%s: too many redirects", req.URL.Path)
}

func (b *browser) get(u string) (*page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

// submit sends the page's form whose action is action, with its inputs
// (hidden ones included) and fields on top, as the browser would.
func (b *browser) submit(p *page, action string, fields map[string]string) (*page, error) {
	form := find(p.doc, func(n *html.Node) bool { return n.Data == "form" && attr(n, "action") == action })
	if form == nil {
		return nil, fmt.Errorf("%s: no form posting to %s", p.url.Path, action)
	}
	values := url.Values{}
	walk(form, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			values.Set(attr(n, "name"), attr(n, "value"))
		}
	})
	for k, v := range fields {
		values.Set(k, v)
	}
	target, _ := p.url.Parse(action)
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin())
	return b.do(req)
}

func (b *browser) origin() string { return b.base.Scheme + "://" + b.base.Host }

// postJSON calls a passkey endpoint as the page script does.
func (b *browser) postJSON(path, csrf string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodPost, b.base.JoinPath(path).String(), bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.origin())
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: read body: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, snippet(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	return nil
}

// input returns the value of the page's input named name.
func (p *page) input(name string) string {
	n := find(p.doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == name })
	if n == nil {
		return ""
	}
	return attr(n, "value")
}

// has reports whether the page has a form posting to action.
func (p *page) has(action string) bool {
	return find(p.doc, func(n *html.Node) bool { return n.Data == "form" && attr(n, "action") == action }) != nil
}

func find(root *html.Node, match func(*html.Node) bool) *html.Node {
	var found *html.Node
	walk(root, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && match(n) {
			found = n
		}
	})
	return found
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
