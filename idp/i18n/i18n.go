// Package i18n is the provider's message catalog: every sentence a member
// or an admin reads, in every shipped language, looked up by key and
// formatted with golang.org/x/text (message, message/catalog, language).
//
// The catalogs are the JSON files ui/locales/<tag>.json, one flat object
// of message key to text each. English (en.json) is the reference: it has
// every key, and it is what a language file that lacks a key falls back to
// at run time. The package tests fail when a shipped file lacks a key of
// en.json, has one en.json does not, or uses other placeholders (%s, %d,
// %[2]s...) than the English text.
//
// Texts are plain text, never HTML: the pages escape them. A text with
// arguments is a fmt format string; translators may reorder arguments with
// explicit indexes (%[2]s ... %[1]s).
package i18n

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/communityidp/idp/ui"
)

// Source is the reference language: its catalog has every key.
const Source = "en"

// Catalog holds the messages of every shipped language.
type Catalog struct {
	builder *catalog.Builder
	// tags are the shipped languages, the source first.
	tags    []language.Tag
	matcher language.Matcher
	source  map[string]string
	english *Printer

	mu       sync.Mutex
	reported map[string]bool
}

// Load reads every dir/*.json of fsys into a catalog. The file names are
// BCP 47 tags; <Source>.json must exist.
func Load(fsys fs.FS, dir string) (*Catalog, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	c := &Catalog{builder: catalog.NewBuilder(), reported: map[string]bool{}}
	texts := map[language.Tag]map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".json")
		tag, err := language.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("%s: the file name is not a language tag: %w", f, err)
		}
		if tag.String() != name {
			return nil, fmt.Errorf("%s: write the language tag as %s", f, tag)
		}
		body, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		m, err := Parse(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		texts[tag] = m
		if name == Source {
			c.source = m
			c.tags = append([]language.Tag{tag}, c.tags...)
		} else {
			c.tags = append(c.tags, tag)
		}
	}
	if c.source == nil {
		return nil, fmt.Errorf("%s/%s.json is missing: it is the reference catalog", dir, Source)
	}
	for tag, m := range texts {
		for key, text := range m {
			if _, ok := c.source[key]; !ok {
				continue // not a message of the pages (the tests report it)
			}
			if err := c.builder.SetString(tag, key, text); err != nil {
				return nil, fmt.Errorf("%s.json: %s: %w", tag, key, err)
			}
		}
	}
	// A language that lacks a key falls back to English: lookups walk a
	// tag's parents (pt-BR, pt, und), and und holds the English texts.
	for key, text := range c.source {
		if err := c.builder.SetString(language.Und, key, text); err != nil {
			return nil, fmt.Errorf("%s.json: %s: %w", Source, key, err)
		}
	}
	c.matcher = language.NewMatcher(c.tags)
	c.english = c.Printer(c.tags[0])
	return c, nil
}

// Parse reads one catalog file: a flat JSON object of non-empty strings,
// each key once.
func Parse(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	m := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var text string
		if err := dec.Decode(&text); err != nil {
			return nil, fmt.Errorf("%s: the value must be a string: %w", key, err)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("%s appears twice", key)
		}
		if key == "" || strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("%q: empty key or text", key)
		}
		m[key] = text
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("text after the object")
	}
	return m, nil
}

var (
	defaultOnce    sync.Once
	defaultCatalog *Catalog
)

// Default is the catalog of ui/locales, loaded once. The files are built
// in and tested, so a broken one is a programming error: Default panics.
func Default() *Catalog {
	defaultOnce.Do(func() {
		c, err := Load(ui.Locales, "locales")
		if err != nil {
			panic("i18n: " + err.Error())
		}
		defaultCatalog = c
	})
	return defaultCatalog
}

// English is the reference language's printer of the default catalog,
// for texts that are not shown to a member in a page (logs, the command
// line, OAuth error descriptions).
func English() *Printer { return Default().english }

// Tags lists the shipped languages, the source first.
func (c *Catalog) Tags() []language.Tag { return append([]language.Tag(nil), c.tags...) }

// Names lists the shipped languages' tags as text, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.tags))
	for _, t := range c.tags {
		out = append(out, t.String())
	}
	sort.Strings(out)
	return out
}

// Has reports whether key is a message of the catalog.
func (c *Catalog) Has(key string) bool { _, ok := c.source[key]; return ok }

// Shipped returns the shipped language written exactly as name ("en",
// "pt-BR"), for the configuration's default language.
func (c *Catalog) Shipped(name string) (language.Tag, bool) {
	for _, t := range c.tags {
		if t.String() == name {
			return t, true
		}
	}
	return language.Und, false
}

// Match picks the shipped language that serves prefs best, in order of
// preference; false when none is close enough.
func (c *Catalog) Match(prefs ...language.Tag) (language.Tag, bool) {
	if len(prefs) == 0 {
		return language.Und, false
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return language.Und, false
	}
	return c.tags[i], true
}

// MatchList matches a space-separated list of tags in order of preference,
// as OpenID Connect's ui_locales ("de-CH fr"). Tags that do not parse are
// skipped.
func (c *Catalog) MatchList(list string) (language.Tag, bool) {
	var prefs []language.Tag
	for _, s := range strings.Fields(list) {
		if len(prefs) == 16 {
			break
		}
		if t, err := language.Parse(s); err == nil {
			prefs = append(prefs, t)
		}
	}
	return c.Match(prefs...)
}

// MatchAcceptLanguage matches an HTTP Accept-Language header.
func (c *Catalog) MatchAcceptLanguage(header string) (language.Tag, bool) {
	if header == "" || len(header) > 1024 {
		return language.Und, false
	}
	prefs, _, err := language.ParseAcceptLanguage(header)
	if err != nil {
		return language.Und, false
	}
	return c.Match(prefs...)
}

// Printer formats the messages of one language.
func (c *Catalog) Printer(tag language.Tag) *Printer {
	return &Printer{tag: tag, p: message.NewPrinter(tag, message.Catalog(c.builder)), c: c}
}

// Printer formats messages in one language. It is safe for concurrent use.
type Printer struct {
	tag language.Tag
	p   *message.Printer
	c   *Catalog
	// plain keeps the texts asked for without arguments: most of a page's
	// words, each costing a catalog lookup and a formatting pass otherwise.
	plain sync.Map // key -> string
	kept  sync.Map // name -> what Keep made
}

// Keep returns what build makes from the printer's texts, built once per
// printer under name: a page part that is the same for every page of the
// language.
func (p *Printer) Keep(name string, build func(*Printer) any) any {
	if v, ok := p.kept.Load(name); ok {
		return v
	}
	v, _ := p.kept.LoadOrStore(name, build(p))
	return v
}

// Tag is the printer's language.
func (p *Printer) Tag() language.Tag { return p.tag }

// T is the text of key in the printer's language (English when the
// language lacks it), formatted with args. An unknown key is a
// programming error: it is logged and the key itself is returned.
func (p *Printer) T(key string, args ...any) string {
	if len(args) == 0 {
		if text, ok := p.plain.Load(key); ok {
			return text.(string)
		}
	}
	if !p.c.Has(key) {
		p.c.unknown(key)
		return key
	}
	text := p.p.Sprintf(key, args...)
	if len(args) == 0 {
		p.plain.Store(key, text)
	}
	return text
}

func (c *Catalog) unknown(key string) {
	c.mu.Lock()
	seen := c.reported[key]
	c.reported[key] = true
	c.mu.Unlock()
	if !seen {
		slog.Error("unknown message key", "key", key)
	}
}

// Wait says how long d is, rounded up to whole seconds below a minute,
// minutes to an hour and a half, hours to two days, then days: "1
// second", "40 seconds", "30 minutes", "24 hours", "7 days".
func (p *Printer) Wait(d time.Duration) string {
	// Rounded up: a member told "2 minutes" must not find the wait, or
	// the link, over after one.
	up := func(unit time.Duration) int { return int((d + unit - 1) / unit) }
	switch {
	case d <= time.Second:
		return p.T("time.second")
	case d < time.Minute:
		return p.T("time.seconds", up(time.Second))
	case d <= time.Minute:
		return p.T("time.minute")
	case d <= 90*time.Minute:
		return p.T("time.minutes", up(time.Minute))
	case d <= 48*time.Hour:
		return p.T("time.hours", up(time.Hour))
	default:
		return p.T("time.days", up(24*time.Hour))
	}
}

type ctxKey struct{}

// NewContext carries p, the language chosen for a request.
func NewContext(ctx context.Context, p *Printer) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext is the printer NewContext stored, else English.
func FromContext(ctx context.Context) *Printer {
	if p, ok := ctx.Value(ctxKey{}).(*Printer); ok && p != nil {
		return p
	}
	return English()
}

// InContext reports whether a request's language was chosen.
func InContext(ctx context.Context) bool {
	_, ok := ctx.Value(ctxKey{}).(*Printer)
	return ok
}
