package main

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"github.com/communityidp/idp/idp/formclient"
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
type page = formclient.Page

// do navigates; an error page (4xx, 5xx) is an error, as the flows never
// expect one.
func (b *browser) do(req *http.Request) (*page, error) {
	p, err := formclient.Navigate(b.client, b.origin(), req)
	if err != nil {
		return nil, err
	}
	if p.Status >= 400 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, p.Status, snippet([]byte(p.Body)))
	}
	return p, nil
}

func (b *browser) get(u string) (*page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

// submit sends the page's form whose action is action, with its inputs
// (hidden ones included) and fields (by name) on top, as the browser would.
func (b *browser) submit(p *page, action string, fields map[string]string) (*page, error) {
	form := p.FormWithAction(action)
	if form == nil {
		return nil, fmt.Errorf("%s: no form posting to %s", p.URL.Path, action)
	}
	req, err := formclient.FormRequest(p, form, formclient.Values(form, fields), b.origin())
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

func (b *browser) origin() string { return b.base.Scheme + "://" + b.base.Host }

// PostJSON calls a JSON endpoint the way the page script does.
func (b *browser) PostJSON(path, csrf string, body, out any) error {
	return formclient.PostJSON(b.client, b.origin(), path, csrf, body, out)
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
