// Package formclient drives the provider's own pages the way a browser
// without JavaScript does: it follows redirects while they stay on the
// provider, stops at one that leaves it (a client's redirect URI), finds
// forms by their buttons or actions and fields by their visible labels,
// and sends a form with its hidden inputs as a browser would. The
// synthetic sign-in of `idp doctor`, the load tool and the end-to-end
// tests all read the pages through it.
package formclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// maxBody bounds what is read of one response: the provider's pages are
// a few kilobytes; this is for a misconfigured proxy answering instead.
const maxBody = 8 << 20

// Page is where a navigation ended: a page on the provider (Body and Doc
// set), or a redirect that left it (Away set).
type Page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
	Doc    *html.Node
	// Away is the Location of a redirect that left the origin.
	Away *url.URL
}

// ErrTooManyRedirects is a navigation that kept redirecting on the
// provider.
var ErrTooManyRedirects = errors.New("too many redirects")

// Navigate sends req with client (which must not follow redirects
// itself) and follows redirects on origin (scheme://host), at most ten.
func Navigate(client *http.Client, origin string, req *http.Request) (*Page, error) {
	for range 10 {
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("%s %s: bad Location %q: %w", req.Method, req.URL.Path, resp.Header.Get("Location"), err)
			}
			if loc.Scheme+"://"+loc.Host != origin {
				return &Page{URL: req.URL, Status: resp.StatusCode, Header: resp.Header, Away: loc}, nil
			}
			req, _ = http.NewRequestWithContext(req.Context(), http.MethodGet, loc.String(), nil)
			continue
		}
		doc, err := html.Parse(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
		return &Page{URL: req.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(body), Doc: doc}, nil
	}
	return nil, fmt.Errorf("%s: %w", req.URL.Path, ErrTooManyRedirects)
}

// FormRequest is the POST a browser sends for form (from p) with values,
// to the form's action, with origin's Origin header.
func FormRequest(p *Page, form *html.Node, values url.Values, origin string) (*http.Request, error) {
	action, err := p.URL.Parse(Attr(form, "action"))
	if err != nil {
		return nil, fmt.Errorf("form action %q: %w", Attr(form, "action"), err)
	}
	req, err := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	return req, nil
}

// Submit sends form (from p) with values as a browser does, from origin,
// and follows the answer as Navigate does.
func Submit(client *http.Client, origin string, p *Page, form *html.Node, values url.Values) (*Page, error) {
	req, err := FormRequest(p, form, values, origin)
	if err != nil {
		return nil, err
	}
	return Navigate(client, origin, req)
}

// Fill returns what the form holding the button labelled button sends,
// with fields (by their visible label) filled in. The error names the
// button or label that is not on the page.
func (p *Page) Fill(button string, fields map[string]string) (*html.Node, url.Values, error) {
	form, btn := p.FormWithButton(button)
	if form == nil {
		return nil, nil, fmt.Errorf("no %q button on %s", button, p.URL.Path)
	}
	byName := map[string]string{}
	for label, v := range fields {
		input := p.Labelled(label)
		if input == nil {
			return nil, nil, fmt.Errorf("no field labelled %q on %s", label, p.URL.Path)
		}
		if t := Attr(input, "type"); t == "radio" || t == "checkbox" {
			// Choosing a radio (or ticking a box) sends its own value.
			v = Attr(input, "value")
			if v == "" {
				v = "on"
			}
		}
		byName[Attr(input, "name")] = v
	}
	values := Values(form, byName)
	if name := Attr(btn, "name"); name != "" {
		values.Set(name, Attr(btn, "value"))
	}
	return form, values, nil
}

// Values are the form's named inputs (hidden ones included) with set
// replacing the values of the inputs it names.
// Like a browser: a radio or checkbox only when checked, a textarea's
// text, a select's selected option.
func Values(form *html.Node, set map[string]string) url.Values {
	values := url.Values{}
	Walk(form, func(n *html.Node) {
		if n.Type != html.ElementNode || (n.Data != "input" && n.Data != "textarea" && n.Data != "select") {
			return
		}
		name := Attr(n, "name")
		if name == "" {
			return
		}
		if v, ok := set[name]; ok {
			values.Set(name, v)
			return
		}
		switch {
		case n.Data == "textarea":
			values.Add(name, TextOf(n))
		case n.Data == "select":
			opt := Find(n, func(o *html.Node) bool { return o.Data == "option" && hasAttr(o, "selected") })
			if opt == nil {
				opt = Find(n, func(o *html.Node) bool { return o.Data == "option" })
			}
			if opt != nil {
				values.Add(name, Attr(opt, "value"))
			}
		case Attr(n, "type") == "radio" || Attr(n, "type") == "checkbox":
			if hasAttr(n, "checked") {
				v := Attr(n, "value")
				if v == "" {
					v = "on"
				}
				values.Add(name, v)
			}
		default:
			values.Add(name, Attr(n, "value"))
		}
	})
	return values
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// Text is the page's visible text, whitespace collapsed (scripts, styles
// and the title left out).
func (p *Page) Text() string {
	var sb strings.Builder
	Walk(p.Doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "wbr" {
			// A place a word may break: the word goes on.
			if t := sb.String(); strings.HasSuffix(t, " ") {
				sb.Reset()
				sb.WriteString(t[:len(t)-1])
			}
			return
		}
		if n.Type == html.TextNode && n.Parent != nil && n.Parent.Data != "script" && n.Parent.Data != "style" && n.Parent.Data != "title" {
			sb.WriteString(n.Data)
			sb.WriteString(" ")
		}
	})
	return strings.Join(strings.Fields(sb.String()), " ")
}

// Script is the text of the page's script element with id id ("" if
// none): the JSON a page hands its script (passkey-options).
func (p *Page) Script(id string) string {
	return TextOf(Find(p.Doc, func(n *html.Node) bool { return n.Data == "script" && Attr(n, "id") == id }))
}

// Input is the value of the page's input named name ("" if none).
func (p *Page) Input(name string) string {
	return Attr(Find(p.Doc, func(n *html.Node) bool { return n.Data == "input" && Attr(n, "name") == name }), "value")
}

// FormWithButton finds the button whose text is text and its form.
func (p *Page) FormWithButton(text string) (form, button *html.Node) {
	Walk(p.Doc, func(n *html.Node) {
		if button != nil || n.Type != html.ElementNode || n.Data != "button" || collapse(TextOf(n)) != text {
			return
		}
		for f := n.Parent; f != nil; f = f.Parent {
			if f.Type == html.ElementNode && f.Data == "form" {
				form, button = f, n
				return
			}
		}
	})
	return form, button
}

// FormWithAction finds the form that posts to action, as written.
func (p *Page) FormWithAction(action string) *html.Node {
	return Find(p.Doc, func(n *html.Node) bool { return n.Data == "form" && Attr(n, "action") == action })
}

// Labelled finds the input the label with this text is for, or holds.
func (p *Page) Labelled(label string) *html.Node {
	l := Find(p.Doc, func(n *html.Node) bool { return n.Data == "label" && collapse(TextOf(n)) == label })
	if l == nil {
		return nil
	}
	if Attr(l, "for") == "" {
		return Find(l, func(n *html.Node) bool { return n.Data == "input" || n.Data == "textarea" || n.Data == "select" })
	}
	return FindByID(p.Doc, Attr(l, "for"))
}

// Walk calls fn for n and every node under it, in document order.
func Walk(n *html.Node, fn func(*html.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		Walk(c, fn)
	}
}

// Find is the first element under root that match accepts.
func Find(root *html.Node, match func(*html.Node) bool) *html.Node {
	var found *html.Node
	Walk(root, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && match(n) {
			found = n
		}
	})
	return found
}

// FindByID is the element with this id.
func FindByID(root *html.Node, id string) *html.Node {
	return Find(root, func(n *html.Node) bool { return Attr(n, "id") == id })
}

// TextOf is all the text under n, as written.
func TextOf(n *html.Node) string {
	var sb strings.Builder
	Walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			sb.WriteString(c.Data)
		}
	})
	return sb.String()
}

// Attr is n's attribute key ("" if n is nil or has none).
func Attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// PostJSON calls a JSON endpoint at origin+path the way the provider's
// page script does: same origin, the page's CSRF token in X-CSRF-Token.
// A status other than 200 is a *Refused naming the provider's code and
// message; out receives the answer.
func PostJSON(client *http.Client, origin, path, csrf string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, origin+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("POST %s: read the answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		r := &Refused{Path: path, Status: resp.StatusCode, Body: data}
		var e struct{ Error, Message string }
		_ = json.Unmarshal(data, &e)
		r.Code, r.Message = e.Error, e.Message
		return r
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	return nil
}

// Refused is a JSON endpoint's answer other than 200: its status, the
// provider's error code and message, and the whole body.
type Refused struct {
	Path          string
	Status        int
	Code, Message string
	Body          []byte
}

func (r *Refused) Error() string {
	return fmt.Sprintf("POST %s answered %d %s: %s", r.Path, r.Status, r.Code, r.Message)
}
