package i18n

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/text/language"

	"github.com/communityidp/idp/ui"
)

// shipped reads every ui/locales/*.json, by language tag.
func shipped(t *testing.T) map[string]map[string]string {
	t.Helper()
	files, err := fs.Glob(ui.Locales, "locales/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalogs in ui/locales: %v", err)
	}
	out := map[string]map[string]string{}
	for _, f := range files {
		body, err := fs.ReadFile(ui.Locales, f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = m
	}
	if out[Source] == nil {
		t.Fatalf("ui/locales/%s.json is missing", Source)
	}
	return out
}

// verb is one fmt verb: %s, %5.2f, %[2]d, %%.
var verb = regexp.MustCompile(`%[-+# 0]*(?:\[(\d+)\])?(?:\d+|\*)?(?:\.(?:\[\d+\])?(?:\d+|\*)?)?(?:\[(\d+)\])?([a-zA-Z%])`)

// placeholders lists the arguments a text formats, as "index:verb"
// (sorted), the way fmt numbers them: in order, or from an explicit
// [n] on.
func placeholders(text string) []string {
	var out []string
	arg := 0
	for _, m := range verb.FindAllStringSubmatch(text, -1) {
		if m[3] == "%" {
			continue
		}
		index := m[2]
		if index == "" {
			index = m[1]
		}
		if index != "" {
			n, _ := strconv.Atoi(index)
			arg = n - 1
		}
		arg++
		out = append(out, fmt.Sprintf("%d:%s", arg, m[3]))
	}
	sort.Strings(out)
	return out
}

// Every shipped catalog has exactly the keys of en.json, with the same
// placeholders, so the translators' files can be checked before they
// ship; a missing text would fall back to English.
func TestCatalogsMatchEnglish(t *testing.T) {
	all := shipped(t)
	en := all[Source]
	for lang, m := range all {
		if _, err := language.Parse(lang); err != nil {
			t.Errorf("%s.json: the file name is not a BCP 47 tag: %v", lang, err)
		}
		for key, text := range en {
			tr, ok := m[key]
			if !ok {
				t.Errorf("%s.json lacks %q (English: %q)", lang, key, text)
				continue
			}
			if want, got := placeholders(text), placeholders(tr); strings.Join(want, " ") != strings.Join(got, " ") {
				t.Errorf("%s.json: %q has placeholders %v, English has %v", lang, key, got, want)
			}
		}
		for key := range m {
			if _, ok := en[key]; !ok {
				t.Errorf("%s.json has %q, which en.json does not have", lang, key)
			}
		}
	}
}

var (
	keyShape = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$`)
	markup   = regexp.MustCompile(`<[a-zA-Z/!]`)
)

// Texts are plain text in every language: keys are well formed, no key
// is also the start of another (so the catalog converts to nested forms),
// and no text holds markup (the pages escape it), Markdown backticks or
// a stray %.
func TestCatalogTexts(t *testing.T) {
	all := shipped(t)
	keys := make([]string, 0, len(all[Source]))
	for key := range all[Source] {
		keys = append(keys, key)
		if !keyShape.MatchString(key) {
			t.Errorf("key %q: use lower-case dotted words, like login.identifier", key)
		}
	}
	sort.Strings(keys)
	for i := 1; i < len(keys); i++ {
		if strings.HasPrefix(keys[i], keys[i-1]+".") {
			t.Errorf("%q is a key and the start of %q", keys[i-1], keys[i])
		}
	}
	for lang, m := range all {
		for key, text := range m {
			if markup.MatchString(text) {
				t.Errorf("%s.json: %q holds markup: %q", lang, key, text)
			}
			if strings.Contains(text, "`") {
				t.Errorf("%s.json: %q holds a backtick, which the page shows as it is: %q", lang, key, text)
			}
			if text != strings.TrimSpace(text) {
				t.Errorf("%s.json: %q starts or ends with a space", lang, key)
			}
			rest := verb.ReplaceAllString(text, "")
			if strings.Contains(rest, "%") {
				t.Errorf("%s.json: %q has a %% that is not a placeholder (write %%%% for a percent sign): %q", lang, key, text)
			}
		}
	}
}

// Every English key is used by a template or the Go code, so translators
// never translate dead text.
func TestEveryKeyUsed(t *testing.T) {
	var sources strings.Builder
	for _, root := range []string{"../../ui/templates", "../../idp"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".html")) {
				return nil
			}
			body, err := os.ReadFile(path)
			sources.Write(body)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	text := sources.String()
	// web.Coded(status, "CODE") uses error.CODE.title, .message and .hint.
	en := shipped(t)[Source]
	coded := map[string]bool{}
	for _, m := range regexp.MustCompile(`web\.Coded\([^,]+, "([A-Z-]+)"\)`).FindAllStringSubmatch(text, -1) {
		for _, part := range []string{"title", "message", "hint"} {
			key := "error." + m[1] + "." + part
			if _, ok := en[key]; !ok {
				t.Errorf("web.Coded(%s) needs %s in en.json", m[1], key)
			}
			coded[key] = true
		}
	}
	for key := range en {
		if !coded[key] && !strings.Contains(text, strconv.Quote(key)) {
			t.Errorf("%q is in en.json but no template or Go file uses it", key)
		}
	}
}

// The shipped catalog loads; English comes first.
func TestDefault(t *testing.T) {
	c := Default()
	if c.Tags()[0] != language.English {
		t.Errorf("first language %v, want en", c.Tags()[0])
	}
	if got := English().T("login.identifier"); got != "Email or username" {
		t.Errorf("login.identifier = %q", got)
	}
	if got := English().T("login.throttled", English().Wait(90*time.Second)); got != "Too many failed attempts. Wait 2 minutes before you try your password again." {
		t.Errorf("formatted: %q", got)
	}
	if got := English().T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
}

func TestWait(t *testing.T) {
	p := English()
	for d, want := range map[time.Duration]string{
		time.Millisecond: "1 second", time.Second: "1 second", 1500 * time.Millisecond: "2 seconds", 59 * time.Second: "59 seconds",
		time.Minute: "1 minute", 61 * time.Second: "2 minutes", 15 * time.Minute: "15 minutes",
		90 * time.Minute: "90 minutes", 91 * time.Minute: "2 hours", 24 * time.Hour: "24 hours", 48 * time.Hour: "48 hours",
		49 * time.Hour: "3 days", 7 * 24 * time.Hour: "7 days",
	} {
		if got := p.Wait(d); got != want {
			t.Errorf("Wait(%v) = %q, want %q", d, got, want)
		}
	}
}

// testCatalog is English plus a partial Spanish and a full German file.
func testCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := Load(fstest.MapFS{
		"l/en.json": {Data: []byte(`{"a.hello": "Hello %s", "a.bye": "Bye", "a.count": "%d items"}`)},
		"l/es.json": {Data: []byte(`{"a.hello": "Hola %s"}`)},
		"l/de.json": {Data: []byte(`{"a.hello": "Hallo %s", "a.bye": "Tschüss", "a.count": "%d Dinge"}`)},
	}, "l")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A language that lacks a key falls back to English at run time.
func TestFallbackToEnglish(t *testing.T) {
	c := testCatalog(t)
	es := c.Printer(language.Spanish)
	if got := es.T("a.hello", "Ana"); got != "Hola Ana" {
		t.Errorf("es a.hello = %q", got)
	}
	if got := es.T("a.bye"); got != "Bye" {
		t.Errorf("es a.bye = %q, want the English text", got)
	}
	// A regional tag uses its language's catalog.
	if got := c.Printer(language.MustParse("es-MX")).T("a.hello", "Ana"); got != "Hola Ana" {
		t.Errorf("es-MX a.hello = %q", got)
	}
	// Numbers are written the language's way.
	if got := c.Printer(language.German).T("a.count", 1234); got != "1.234 Dinge" {
		t.Errorf("de a.count = %q", got)
	}
	if got := c.Printer(language.English).T("a.count", 12); got != "12 items" {
		t.Errorf("en a.count = %q", got)
	}
}

func TestMatch(t *testing.T) {
	c := testCatalog(t)
	for _, tc := range []struct {
		list string
		want string
	}{
		{"es", "es"}, {"es-MX", "es"}, {"de-CH fr", "de"}, {"ja es", "es"}, {"fr", ""}, {"", ""}, {"\xff ;;", ""}, {"en-GB", "en"},
	} {
		got, ok := c.MatchList(tc.list)
		if (tc.want == "") != !ok || (ok && got.String() != tc.want) {
			t.Errorf("MatchList(%q) = %v %v, want %q", tc.list, got, ok, tc.want)
		}
	}
	for _, tc := range []struct {
		header string
		want   string
	}{
		{"es-ES,es;q=0.9,en;q=0.8", "es"}, {"fr-CH, de;q=0.5", "de"}, {"fr", ""}, {"*", ""}, {"en-US,en;q=0.9", "en"}, {"garbage;;q=x", ""},
	} {
		got, ok := c.MatchAcceptLanguage(tc.header)
		if (tc.want == "") != !ok || (ok && got.String() != tc.want) {
			t.Errorf("MatchAcceptLanguage(%q) = %v %v, want %q", tc.header, got, ok, tc.want)
		}
	}
	if _, ok := c.Shipped("de"); !ok {
		t.Error("de is shipped")
	}
	if _, ok := c.Shipped("fr"); ok {
		t.Error("fr is not shipped")
	}
}

func TestParseRefuses(t *testing.T) {
	for _, body := range []string{`[]`, `{"a.b": 1}`, `{"a.b": "x", "a.b": "y"}`, `{"a.b": ""}`, `{"a.b": "x"} {}`, `{"a.b": {"c": "d"}}`} {
		if _, err := Parse([]byte(body)); err == nil {
			t.Errorf("Parse(%s) accepted", body)
		}
	}
	if _, err := Load(fstest.MapFS{"l/es.json": {Data: []byte(`{"a.b": "x"}`)}}, "l"); err == nil {
		t.Error("a catalog without en.json loaded")
	}
	if _, err := Load(fstest.MapFS{"l/en.json": {Data: []byte(`{"a.b": "x"}`)}, "l/EN-us.json": {Data: []byte(`{}`)}}, "l"); err == nil {
		t.Error("a file named EN-us.json loaded")
	}
}

func TestPlaceholders(t *testing.T) {
	for text, want := range map[string]string{
		"Hello %s":                           "1:s",
		"%[2]s then %[1]s":                   "1:s 2:s",
		"%d of %d (%s), %.0f%% level":        "1:d 2:d 3:s 4:f",
		"%[1]s: %[2]s":                       "1:s 2:s",
		"100%% sure":                         "",
		"%[2]d ... %s":                       "2:d 3:s",
		"le %[3]s, %[1]d sur %[2]d, %.0[4]f": "1:d 2:d 3:s 4:f",
	} {
		if got := strings.Join(placeholders(text), " "); got != want {
			t.Errorf("placeholders(%q) = %q, want %q", text, got, want)
		}
	}
}

// Every literal of the Go code that looks like a message key (a dotted
// name in one of the catalog's namespaces) is in en.json: a typo would
// show the key itself to members.
func TestGoKeysExist(t *testing.T) {
	en := shipped(t)[Source]
	spaces := map[string]bool{}
	for key := range en {
		spaces[key[:strings.Index(key, ".")]] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir("../../idp", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == "audit" || d.Name() == "store") {
			return filepath.SkipDir // audit event kinds ("passkey.added") are data, not messages
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !keyShape.MatchString(s) || !spaces[s[:strings.Index(s, ".")]] {
				return true
			}
			if _, ok := en[s]; !ok {
				t.Errorf("%s: %q looks like a message key but en.json has no such key", fset.Position(lit.Pos()), s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A text asked for without arguments is kept by its printer: asking again,
// from many requests at once, gives the same text, and a message asked
// for both ways is still formatted when it has arguments.
func TestPlainTextsKept(t *testing.T) {
	c := testCatalog(t)
	de, es := c.Printer(language.German), c.Printer(language.Spanish)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := de.T("a.bye"); got != "Tschüss" {
					t.Errorf("de a.bye = %q", got)
				}
				if got := es.T("a.bye"); got != "Bye" {
					t.Errorf("es a.bye = %q", got)
				}
			}
		})
	}
	wg.Wait()
	if got := de.T("a.hello"); got != "Hallo %!s(MISSING)" {
		t.Errorf("de a.hello without its argument = %q", got)
	}
	if got := de.T("a.hello", "Ana"); got != "Hallo Ana" {
		t.Errorf("de a.hello after the plain lookup = %q", got)
	}
	if got := de.T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key = %q", got)
	}
}
