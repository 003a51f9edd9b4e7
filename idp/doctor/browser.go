package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"
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
type page struct {
	URL    *url.URL
	Status int
	Body   string
	doc    *html.Node
	Away   *url.URL
}

func (b *browser) do(req *http.Request) (*page, error) {
	for hops := 0; hops < 10; hops++ {
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("bad redirect %q", resp.Header.Get("Location"))
			}
			if loc.Scheme+"://"+loc.Host != b.origin {
				return &page{URL: req.URL, Status: resp.StatusCode, Away: loc}, nil
			}
			req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
			continue
		}
		doc, _ := html.Parse(bytes.NewReader(body))
		return &page{URL: req.URL, Status: resp.StatusCode, Body: string(body), doc: doc}, nil
	}
	return nil, fmt.Errorf("too many redirects")
}

func (b *browser) get(u string) (*page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

// submit fills the form holding the button labelled button and sends it.
func (b *browser) submit(p *page, button string, fields map[string]string) (*page, error) {
	form := p.formWithButton(button)
	if form == nil {
		return nil, fmt.Errorf("no %q button on %s (%s)", button, p.URL.Path, p.text(200))
	}
	byName := map[string]string{}
	for label, v := range fields {
		input := p.labelled(label)
		if input == nil {
			return nil, fmt.Errorf("no field %q on %s", label, p.URL.Path)
		}
		byName[attr(input, "name")] = v
	}
	values := url.Values{}
	walk(form, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			if v, ok := byName[attr(n, "name")]; ok {
				values.Set(attr(n, "name"), v)
			} else {
				values.Add(attr(n, "name"), attr(n, "value"))
			}
		}
	})
	action, _ := p.URL.Parse(attr(form, "action"))
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	return b.do(req)
}

// postJSON calls a JSON endpoint the way the page script does.
func (b *browser) postJSON(path, csrf string, body any, out any) error {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, b.origin+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.origin)
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Message string }
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%s answered %d %s: %s", path, resp.StatusCode, e.Error, e.Message)
	}
	return json.Unmarshal(data, out)
}

func (p *page) has(text string) bool { return strings.Contains(p.text(0), text) }

// text is the visible text, whitespace collapsed, cut to n runes (0: all).
func (p *page) text(n int) string {
	var sb strings.Builder
	walk(p.doc, func(x *html.Node) {
		if x.Type == html.TextNode && x.Parent != nil && x.Parent.Data != "script" && x.Parent.Data != "style" {
			sb.WriteString(x.Data + " ")
		}
	})
	t := strings.Join(strings.Fields(sb.String()), " ")
	if r := []rune(t); n > 0 && len(r) > n {
		return string(r[:n]) + "…"
	}
	return t
}

func (p *page) input(name string) string {
	v := ""
	walk(p.doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") == name {
			v = attr(n, "value")
		}
	})
	return v
}

func (p *page) formWithButton(text string) *html.Node {
	var form *html.Node
	walk(p.doc, func(n *html.Node) {
		if form != nil || n.Type != html.ElementNode || n.Data != "button" || strings.Join(strings.Fields(textOf(n)), " ") != text {
			return
		}
		for f := n.Parent; f != nil; f = f.Parent {
			if f.Type == html.ElementNode && f.Data == "form" {
				form = f
				return
			}
		}
	})
	return form
}

func (p *page) labelled(label string) *html.Node {
	id := ""
	walk(p.doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "label" && strings.Join(strings.Fields(textOf(n)), " ") == label {
			id = attr(n, "for")
		}
	})
	var input *html.Node
	walk(p.doc, func(n *html.Node) {
		if id != "" && n.Type == html.ElementNode && attr(n, "id") == id {
			input = n
		}
	})
	return input
}

func walk(n *html.Node, fn func(*html.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func textOf(n *html.Node) string {
	var sb strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			sb.WriteString(c.Data)
		}
	})
	return sb.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
