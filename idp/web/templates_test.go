package web

import (
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"text/template/parse"
	"unicode"

	"golang.org/x/net/html"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/ui"
)

// hole stands for what an action prints, in a page's skeleton.
const hole = "\x00"

// textAttrs are the attributes whose values people read (or hear from a
// screen reader): they must come from the catalog like the page's text.
var textAttrs = map[string]bool{
	"aria-label": true, "aria-description": true, "aria-roledescription": true, "aria-valuetext": true,
	"aria-placeholder": true, "title": true, "placeholder": true, "alt": true, "label": true,
}

// templateFuncs are the names the templates may call, for the parser.
var templateFuncs = map[string]any{
	"date": true, "asset": true, "list": true, "wbr": true,
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true, "call": true, "html": true, "js": true,
	"urlquery": true, "print": true, "printf": true, "println": true, "eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
}

// parseFile parses one template file into its trees, by name.
func parseFile(t *testing.T, name string) map[string]*parse.Tree {
	t.Helper()
	body, err := fs.ReadFile(ui.Templates, name)
	if err != nil {
		t.Fatal(err)
	}
	trees, err := parse.Parse(name, string(body), "", "", templateFuncs)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return trees
}

// skeleton writes a template as the page it renders, every action a hole
// and every branch of an if, range or with one after the other; the
// templates it calls are written in place.
type skeleton struct {
	t      *testing.T
	file   string
	trees  map[string]*parse.Tree
	b      strings.Builder
	seen   map[string]bool
	depth  int
	calls  func(key string, n parse.Node)
	errorf func(format string, args ...any)
}

func (s *skeleton) template(name string) {
	tr, ok := s.trees[name]
	if !ok || s.depth > 20 {
		s.b.WriteString(hole)
		return
	}
	s.seen[name] = true
	s.depth++
	s.node(tr.Root)
	s.depth--
}

func (s *skeleton) node(n parse.Node) {
	switch n := n.(type) {
	case nil:
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			s.node(c)
		}
	case *parse.TextNode:
		s.b.Write(n.Text)
	case *parse.ActionNode:
		s.pipe(n.Pipe, true)
		s.b.WriteString(hole)
	case *parse.IfNode:
		s.branches(&n.BranchNode)
	case *parse.RangeNode:
		s.branches(&n.BranchNode)
	case *parse.WithNode:
		s.branches(&n.BranchNode)
	case *parse.TemplateNode:
		s.pipe(n.Pipe, false)
		s.template(n.Name)
	case *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
	default:
		s.errorf("%s: unexpected node %T: %s", s.file, n, n)
	}
}

func (s *skeleton) branches(b *parse.BranchNode) {
	s.pipe(b.Pipe, false)
	s.node(b.List)
	s.node(b.ElseList)
}

// pipe checks the calls of the catalog in a pipeline ({{$.T "key"}},
// {{$.H "key" ...}}: a key of en.json, written as a literal) and refuses
// text written into the template itself ({{"Sign in"}}, {{printf "..."}}).
func (s *skeleton) pipe(p *parse.PipeNode, printed bool) {
	if p == nil {
		return
	}
	if printed && len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 1 {
		if str, ok := p.Cmds[0].Args[0].(*parse.StringNode); ok && hasLetter(str.Text) {
			s.errorf("%s: %s prints text that is not in the catalog", s.file, p)
		}
	}
	for _, cmd := range p.Cmds {
		s.command(cmd)
	}
}

func (s *skeleton) command(cmd *parse.CommandNode) {
	if len(cmd.Args) == 0 {
		return
	}
	switch fn := lastName(cmd.Args[0]); fn {
	case "T", "H":
		if len(cmd.Args) < 2 {
			s.errorf("%s: %s has no message key", s.file, cmd)
			break
		}
		key, ok := cmd.Args[1].(*parse.StringNode)
		if !ok {
			s.errorf("%s: %s: write the message key as a literal", s.file, cmd)
			break
		}
		s.calls(key.Text, cmd)
	case "printf", "print", "println":
		for _, a := range cmd.Args[1:] {
			if str, ok := a.(*parse.StringNode); ok && hasLetter(str.Text) {
				s.errorf("%s: %s prints text that is not in the catalog", s.file, cmd)
			}
		}
	}
	for _, a := range cmd.Args {
		if p, ok := a.(*parse.PipeNode); ok {
			s.pipe(p, false)
		}
	}
}

// lastName is the method or function a command calls: T for $.T.
func lastName(n parse.Node) string {
	switch n := n.(type) {
	case *parse.IdentifierNode:
		return n.Ident
	case *parse.FieldNode:
		return n.Ident[len(n.Ident)-1]
	case *parse.VariableNode:
		return n.Ident[len(n.Ident)-1]
	case *parse.ChainNode:
		return n.Field[len(n.Field)-1]
	}
	return ""
}

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// literals reports the text of a page skeleton that is written into the
// template rather than taken from the catalog: words in text, or in the
// attributes people read.
func literals(page string) []string {
	var found []string
	z := html.NewTokenizer(strings.NewReader(page))
	raw := ""
	for {
		switch z.Next() {
		case html.ErrorToken:
			return found
		case html.TextToken:
			text := string(z.Text())
			if raw == "noscript" {
				// Markup for browsers without scripts: check it as markup.
				found = append(found, literals(text)...)
				continue
			}
			if hasLetter(strings.ReplaceAll(text, hole, "")) {
				found = append(found, strings.TrimSpace(strings.ReplaceAll(text, hole, "{{…}}")))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			raw = tok.Data
			typ := ""
			for _, a := range tok.Attr {
				if a.Key == "type" {
					typ = a.Val
				}
			}
			for _, a := range tok.Attr {
				reads := textAttrs[a.Key] ||
					(a.Key == "value" && tok.Data == "input" && (typ == "submit" || typ == "button" || typ == "reset"))
				if reads && hasLetter(strings.ReplaceAll(a.Val, hole, "")) {
					found = append(found, tok.Data+" "+a.Key+`="`+a.Val+`"`)
				}
			}
		case html.EndTagToken:
			raw = ""
		}
	}
}

// No template holds an untranslated literal: every word a page shows, in
// its text and in the attributes people read (aria-label, title,
// placeholder, alt...), comes from the catalog through $.T or $.H, with a
// key en.json has. Class names, ids, URLs and autocomplete tokens are not
// text. The test walks each page's parse trees (the layout with the
// page's blocks and the shared templates in place).
func TestNoUntranslatedLiterals(t *testing.T) {
	cat := i18n.Default()
	pages, err := readPages(ui.Templates)
	if err != nil || len(pages) < 2 {
		t.Fatalf("templates: %d pages, %v", len(pages), err)
	}
	shared := map[string]string{} // a template of the layout or a partial -> its file
	reached := map[string]bool{}
	keys := 0
	for name, pg := range pages {
		f := "templates/" + name + ".html"
		trees := map[string]*parse.Tree{}
		for _, file := range pg.files {
			for n, tr := range parseFile(t, file) {
				trees[n] = tr
				if file != f {
					shared[n] = file
				}
			}
		}
		s := &skeleton{t: t, file: f, trees: trees, seen: map[string]bool{}, errorf: t.Errorf,
			calls: func(key string, n parse.Node) {
				keys++
				if !cat.Has(key) {
					t.Errorf("%s: %s: %q is not in en.json", f, n, key)
				}
			}}
		s.template("layout")
		for n := range s.seen {
			reached[n] = true
		}
		for _, lit := range literals(s.b.String()) {
			t.Errorf("%s: untranslated text %q: move it to ui/locales/en.json and write {{$.T \"key\"}}", f, lit)
		}
	}
	for n, file := range shared {
		if !reached[n] && n != file {
			t.Errorf("%s: %q is used by no page, so this test does not check it", file, n)
		}
	}
	if keys < 100 {
		t.Errorf("only %d catalog calls found: is the parse tree walk broken?", keys)
	}
}

// The walk finds what it must refuse.
func TestLiteralsFound(t *testing.T) {
	for page, want := range map[string]int{
		`<p>Hello</p>`: 1,
		`<p>` + hole + `</p><p>` + hole + ` · </p>`:                                     0,
		`<button aria-label="Close">` + hole + `</button>`:                              1,
		`<input type="submit" value="Send"><input value="x" hidden>`:                    1,
		`<img alt="` + hole + `" src="/x.png" class="logo big">`:                        0,
		`<noscript><meta http-equiv="refresh" content="0;url=` + hole + `"></noscript>`: 0,
		`<noscript><p>Turn on JavaScript</p></noscript>`:                                1,
		`<a href="/help/errors#PK-X" title="Help">` + hole + `</a>`:                     1,
	} {
		if got := len(literals(page)); got != want {
			t.Errorf("literals(%q) found %d, want %d", page, got, want)
		}
	}
}

// A page is parsed with the partials it calls and no others, and a call
// to a template nothing defines stops the renderer at start-up.
func TestPagesTakeThePartialsTheyCall(t *testing.T) {
	funcs := template.FuncMap{} // parsed, never run
	for _, name := range []string{"date", "asset", "list", "wbr"} {
		funcs[name] = func(...any) string { return "" }
	}
	pages, err := parsePages(ui.Templates, funcs)
	if err != nil {
		t.Fatal(err)
	}
	parsed := func(pages map[string]*lazyPage, name string) *template.Template {
		t.Helper()
		if pages[name] == nil {
			t.Fatalf("no page %s", name)
		}
		tpl, err := pages[name].template()
		if err != nil {
			t.Fatal(err)
		}
		return tpl
	}
	if parsed(pages, "admin_overview").Lookup("rollout") == nil {
		t.Error("the admin overview was parsed without the rollout template it shows")
	}
	for _, p := range []string{"login_identifier", "login_passkey", "login_password", "error"} {
		for _, admin := range []string{"admin-nav", "rollout", "audit-table", "settings-nav"} {
			if parsed(pages, p).Lookup(admin) != nil {
				t.Errorf("page %s carries the template %s it never shows", p, admin)
			}
		}
	}

	fsys := fstest.MapFS{
		"templates/layout.html": {Data: []byte(`{{define "layout"}}<main>{{template "content" .}}</main>{{end}}`)},
		"templates/_parts.html": {Data: []byte(`{{define "nav"}}<nav>{{template "item" .}}</nav>{{end}}{{define "item"}}<a>{{.}}</a>{{end}}`)},
		"templates/uses.html":   {Data: []byte(`{{define "content"}}{{template "nav" .}}{{end}}`)},
		"templates/plain.html":  {Data: []byte(`{{define "content"}}<p>{{.}}</p>{{end}}`)},
	}
	pages, err = parsePages(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 2 || parsed(pages, "uses").Lookup("item") == nil || parsed(pages, "plain").Lookup("nav") != nil {
		t.Errorf("pages %v: want uses with the partials, plain without, and no page _parts", pages)
	}
	fsys["templates/broken.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{template "missing" .}}{{end}}`)}
	if _, err := parsePages(fsys, nil); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("a call to an undefined template: err = %v, want one naming it", err)
	}
}

// A page is parsed once per language, when it is first shown in it, and
// the same templates serve every later showing, from any number of
// requests at once.
func TestPagesParsedOnFirstShow(t *testing.T) {
	r := testRenderer(t, "en")
	pg := r.pages["login_identifier"]
	var parses atomic.Int32
	parse := pg.parse
	pg.parse = func() (*template.Template, error) { parses.Add(1); return parse() }
	show := func(lang string) {
		w := httptest.NewRecorder()
		req := r.Language(w, httptest.NewRequest(http.MethodGet, "/login?lang="+lang, nil), true)
		r.Render(w, req, http.StatusOK, "login_identifier", nil, loginData{Client: "Site"})
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Site") {
			t.Errorf("render: %d %s", w.Code, w.Body)
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { show("en") })
	}
	wg.Wait()
	if n := parses.Load(); n != 1 {
		t.Fatalf("8 first showings parsed the page %d times, want once", n)
	}
	admin := r.pages["admin_overview"]
	admin.folded.Range(func(any, any) bool { t.Error("a page nobody showed was parsed"); return false })
	show("en")
	show("es")
	if n := parses.Load(); n != 2 {
		t.Errorf("after a showing in English and one in Spanish: %d parses, want 2 (one per language)", n)
	}
}
