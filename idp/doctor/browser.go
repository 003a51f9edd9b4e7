package doctor

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"

	"github.com/communityidp/idp/idp/formclient"
)

// browser is a minimal browser for the synthetic check: it keeps cookies,
// follows redirects on the provider, stops at a redirect that leaves it
// (the app's redirect URI), and fills forms by their labels, as a member
// reads them.
type browser struct {
	origin string
	client *http.Client
}

func newBrowser(issuer string, timeout time.Duration) *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(issuer)
	return &browser{origin: u.Scheme + "://" + u.Host, client: &http.Client{Jar: jar, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is where a navigation ended: a page on the provider, or Away.
type page = formclient.Page

func (b *browser) get(u string) (*page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return formclient.Navigate(b.client, b.origin, req)
}

// submit fills the form holding the button labelled button and sends it.
func (b *browser) submit(p *page, button string, fields map[string]string) (*page, error) {
	form, values, err := p.Fill(button, fields)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, cut(p.Text(), 200))
	}
	return formclient.Submit(b.client, b.origin, p, form, values)
}

// PostJSON calls a JSON endpoint the way the page script does.
func (b *browser) PostJSON(path, csrf string, body, out any) error {
	return formclient.PostJSON(b.client, b.origin, path, csrf, body, out)
}

// cut shortens s to n runes for a message.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
