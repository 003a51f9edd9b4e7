package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/i18n"
)

// LangCookie remembers, for the pages that follow, a language a request
// asked for: ui_locales (of /authorize or of any page) or lang.
const LangCookie = "idp_lang"

// langCookieAge is how long LangCookie lasts: a sign-in and what follows.
const langCookieAge = 24 * time.Hour

// languages chooses each request's language among the shipped ones.
type languages struct {
	cat      *i18n.Catalog
	def      language.Tag
	secure   bool
	printers map[language.Tag]*i18n.Printer
}

func newLanguages(cat *i18n.Catalog, def string, secure bool) (languages, error) {
	if def == "" {
		def = i18n.Source
	}
	tag, ok := cat.Shipped(def)
	if !ok {
		return languages{}, fmt.Errorf("default language %q is not shipped (one of %s)", def, strings.Join(cat.Names(), ", "))
	}
	l := languages{cat: cat, def: tag, secure: secure, printers: map[language.Tag]*i18n.Printer{}}
	for _, t := range cat.Tags() {
		l.printers[t] = cat.Printer(t)
	}
	return l, nil
}

// langKey marks, in a request's context, whether the request itself named
// its language (?ui_locales=, ?lang=, its authorization request's
// ui_locales): nothing else overrides it then.
type langKey struct{}

// named is the shipped language a request names itself: ?ui_locales= or
// ?lang=, in the query or a form already parsed.
func (l languages) named(req *http.Request) (language.Tag, bool) {
	q := req.URL.Query()
	for _, name := range []string{"ui_locales", "lang"} {
		v := q.Get(name)
		if v == "" && req.PostForm != nil {
			v = req.PostForm.Get(name)
		}
		if v == "" {
			continue
		}
		if t, ok := l.cat.MatchList(v); ok {
			return t, true
		}
	}
	return language.Und, false
}

// cookie is the language LangCookie remembers, if it is a shipped one.
func (l languages) cookie(req *http.Request) (language.Tag, bool) {
	c, err := req.Cookie(LangCookie)
	if err != nil {
		return language.Und, false
	}
	return l.cat.Shipped(c.Value)
}

// browser is the language of Accept-Language, else the default.
func (l languages) browser(req *http.Request) language.Tag {
	if t, ok := l.cat.MatchAcceptLanguage(req.Header.Get("Accept-Language")); ok {
		return t
	}
	return l.def
}

// choose picks a request's language: the one it names, the one the
// cookie remembers, the browser's, the default.
func (l languages) choose(req *http.Request) (language.Tag, bool) {
	if t, ok := l.named(req); ok {
		return t, true
	}
	return l.remembered(req), false
}

// remembered is the language LangCookie remembers, else the browser's.
func (l languages) remembered(req *http.Request) language.Tag {
	if t, ok := l.cookie(req); ok {
		return t
	}
	return l.browser(req)
}

func (l languages) printer(t language.Tag) *i18n.Printer {
	if p, ok := l.printers[t]; ok {
		return p
	}
	return l.printers[l.def]
}

func (l languages) remember(w http.ResponseWriter, req *http.Request, t language.Tag) {
	if cur, ok := l.cookie(req); ok && cur == t {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: t.String(), Path: "/", MaxAge: int(langCookieAge / time.Second),
		HttpOnly: true, Secure: l.secure, SameSite: http.SameSiteLaxMode})
}

func (l languages) forget(w http.ResponseWriter, req *http.Request) {
	if _, err := req.Cookie(LangCookie); err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: l.secure, SameSite: http.SameSiteLaxMode})
}

// Language chooses the request's language and returns the request
// carrying it, for every page and JSON answer that follows: the language
// the request names (?ui_locales=, ?lang=; LangCookie remembers it for
// the pages after), else the one LangCookie remembers, else the browser's
// Accept-Language, else the configured default. newFlow marks the start of
// an authorization request: one without a usable ui_locales forgets the
// language an earlier one asked for.
func (r *Renderer) Language(w http.ResponseWriter, req *http.Request, newFlow bool) *http.Request {
	l := r.lang
	t, named := l.named(req)
	switch {
	case named:
		l.remember(w, req, t)
	case newFlow:
		l.forget(w, req)
		t = l.browser(req)
	default:
		t = l.remembered(req) // named was asked above
	}
	return withLang(req, l.printer(t), named)
}

// withLang is req carrying its language, for the pages and for the code
// that has no Renderer (i18n.FromContext).
func withLang(req *http.Request, p *i18n.Printer, named bool) *http.Request {
	ctx := i18n.NewContext(req.Context(), p)
	return req.WithContext(context.WithValue(ctx, langKey{}, named))
}

// UseLocales applies the ui_locales of the authorization request a page
// belongs to (its first shipped language), unless the request named a
// language itself; LangCookie remembers it for the pages after.
func (r *Renderer) UseLocales(w http.ResponseWriter, req *http.Request, locales []string) *http.Request {
	if len(locales) == 0 {
		return req
	}
	if named, _ := req.Context().Value(langKey{}).(bool); named {
		return req
	}
	t, ok := r.lang.cat.MatchList(strings.Join(locales, " "))
	if !ok {
		return req
	}
	r.lang.remember(w, req, t)
	return withLang(req, r.lang.printer(t), true)
}

// Printer is the request's language: the one Language chose, else (a
// request that did not pass through it) chosen now.
func (r *Renderer) Printer(req *http.Request) *i18n.Printer {
	if i18n.InContext(req.Context()) {
		return i18n.FromContext(req.Context())
	}
	t, _ := r.lang.choose(req)
	return r.lang.printer(t)
}

// T is the text of key in the request's language, formatted with args.
func (r *Renderer) T(req *http.Request, key string, args ...any) string {
	return r.Printer(req).T(key, args...)
}

// Wait says how long d is in the request's language ("3 minutes").
func (r *Renderer) Wait(req *http.Request, d time.Duration) string { return r.Printer(req).Wait(d) }

// Device names a User-Agent's browser and system in the request's
// language ("Chrome on Android"), "" when neither is known.
func (r *Renderer) Device(req *http.Request, ua string) string {
	return device.In(r.Printer(req), ua)
}

// localized is an error that can say itself in the member's language: a
// message key and its arguments (password.PolicyError, users.FieldError).
type localized interface {
	error
	MessageKey() (string, []any)
}

// ErrorText is why err refused what a member typed, in the request's
// language: the localized sentence of a password.PolicyError or a
// users.FieldError (the reason alone, without the field), else the error's
// own text.
func (r *Renderer) ErrorText(req *http.Request, err error) string {
	var l localized
	if errors.As(err, &l) {
		if key, args := l.MessageKey(); key != "" {
			return r.T(req, key, args...)
		}
	}
	return err.Error()
}
