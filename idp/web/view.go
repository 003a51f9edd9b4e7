package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/store"
)

// T is the text of key in the page's language, formatted with args; the
// template escapes it.
func (v View) T(key string, args ...any) string { return v.printer().T(key, args...) }

// H is T for a sentence with markup around some arguments: the text and
// the string arguments are escaped, arguments made by Code, Strong or
// CodeSlot are kept as markup. Translators see only "%s".
func (v View) H(key string, args ...any) template.HTML {
	marks := make([]any, len(args))
	keep := map[string]string{}
	for i, a := range args {
		var html string
		switch x := a.(type) {
		case template.HTML:
			html = string(x)
		case string:
			html = template.HTMLEscapeString(x)
		default:
			marks[i] = a // numbers: formatted for the language
			continue
		}
		mark := fmt.Sprintf("\uE000%d\uE001", i)
		marks[i], keep[mark] = mark, html
	}
	out := template.HTMLEscapeString(v.printer().T(key, marks...))
	for mark, html := range keep {
		out = strings.ReplaceAll(out, mark, html)
	}
	return template.HTML(out)
}

// Code is s as code, for H.
func (v View) Code(s string) template.HTML {
	return template.HTML("<code>" + template.HTMLEscapeString(s) + "</code>")
}

// Strong is s in bold, for H.
func (v View) Strong(s string) template.HTML {
	return template.HTML("<strong>" + template.HTMLEscapeString(s) + "</strong>")
}

// CodeSlot is the empty code element the page script fills with an error
// code, for H.
func (v View) CodeSlot() template.HTML { return `<code data-code></code>` }

// With is the view with other data, for a shared template that shows a
// part of the page: {{template "audit-table" ($.With .Data.Events)}}.
func (v View) With(data any) View {
	v.Data = data
	return v
}

// Method names a sign-in method of the audit log.
func (v View) Method(m string) string {
	switch m {
	case "passkey":
		return v.T("method.passkey")
	case "pwd":
		return v.T("method.password")
	case "pwd-after-passkey":
		return v.T("method.password_after_passkey")
	}
	return m
}

// Event says an audit event's kind in words ("Passkey sign-in failed").
func (v View) Event(kind string) string {
	if key, ok := audit.KindKeys[kind]; ok {
		return v.T(key)
	}
	return kind
}

// Ago shows when t was: "5 minutes ago" up to a week, then the date; the
// UTC time on hover, and the exact time for the page script, which shows
// older dates in the member's own time zone.
func (v View) Ago(t any) template.HTML {
	var at time.Time
	switch x := t.(type) {
	case time.Time:
		at = x
	case *time.Time:
		if x == nil {
			return ""
		}
		at = *x
	}
	if at.IsZero() {
		return ""
	}
	now := v.Now
	if now.IsZero() {
		now = time.Now()
	}
	d := now.Sub(at)
	var text string
	switch n := int(d / time.Minute); {
	case d < time.Minute:
		text = v.T("ago.now")
	case d < 2*time.Minute:
		text = v.T("ago.minute")
	case d < time.Hour:
		text = v.T("ago.minutes", n)
	case d < 2*time.Hour:
		text = v.T("ago.hour")
	case d < 24*time.Hour:
		text = v.T("ago.hours", int(d/time.Hour))
	case d < 48*time.Hour:
		text = v.T("ago.day")
	case d < 7*24*time.Hour:
		text = v.T("ago.days", int(d/(24*time.Hour)))
	default:
		return template.HTML(`<time datetime="` + at.UTC().Format(time.RFC3339) + `" data-local>` +
			template.HTMLEscapeString(formatDate(at)) + `</time>`)
	}
	return template.HTML(`<time datetime="` + at.UTC().Format(time.RFC3339) + `" title="` +
		template.HTMLEscapeString(formatDate(at)) + `">` + template.HTMLEscapeString(text) + `</time>`)
}

// Device names a User-Agent's browser and system, "Unknown" when neither
// is known.
func (v View) Device(ua string) string {
	if d := device.In(v.printer(), ua); d != "" {
		return d
	}
	return v.T("common.unknown")
}

// PasskeyMessages are the page script's texts (passkey.js), in the page's
// language: a sentence for each error code, and its own few words, as the
// JSON of a script element. They are the same on every page of a
// language, so each printer makes them once.
func (v View) PasskeyMessages() template.JS {
	return v.printer().Keep("passkey-messages", passkeyMessages).(template.JS)
}

func passkeyMessages(p *i18n.Printer) any {
	codes := map[string]string{}
	for code, key := range passkey.Messages {
		codes[code] = p.T(key)
	}
	// json.Marshal escapes <, > and &: the text cannot end the element.
	b, err := json.Marshal(map[string]any{
		"codes": codes,
		"text": map[string]string{
			"generic":       p.T("passkey.script.generic"),
			"cancelledHint": p.T("passkey.script.cancelled_hint"),
			"signInAgain":   p.T("passkey.script.sign_in_again"),
		},
	})
	if err != nil { // maps of strings always marshal; a guard
		return template.JS("{}")
	}
	return template.JS(b)
}

func (v View) printer() *i18n.Printer {
	if v.p == nil {
		return i18n.English()
	}
	return v.p
}

// PasskeyProvider names who keeps a passkey, in the request's language:
// the provider (a password manager), else the browser and system that
// created it.
func (r *Renderer) PasskeyProvider(req *http.Request, pk store.Passkey) string {
	if p := device.Provider(pk.AAGUID); p != "" {
		return p
	}
	if d := r.Device(req, pk.CreatedUA); d != "" {
		return r.T(req, "passkeys.created_in", d)
	}
	return r.T(req, "common.unknown")
}
