package web

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"text/template/parse"

	"github.com/communityidp/idp/idp/i18n"
)

// A page's words come from the catalog, {{$.T "key"}}, and its files'
// addresses from {{asset "name"}}. On every showing text/template finds
// the method by reflection, calls it and then html/template's escapers,
// for output that is the same on every showing in one language: twenty of
// the first sign-in page's actions, most of its rendering time. So each
// page is kept per language with those actions folded into its text,
// escaped exactly as html/template escapes them there, and a showing
// executes only what changes between requests.

// escapeChain is an escaper pipeline html/template puts after an action
// ("_html_template_attrescaper"), run on a string.
type escapeChain func(string) (string, error)

// probe is markup in which html/template escapes {{.}} with one chain of
// escapers. Running the probe is running that chain, html/template's own
// code, so a folded word is escaped exactly as the action would have been.
type probe struct {
	t              *template.Template
	prefix, suffix string
}

func (p probe) escape(s string) (string, error) {
	var b strings.Builder
	if err := p.t.Execute(&b, s); err != nil {
		return "", err
	}
	out := b.String()
	if !strings.HasPrefix(out, p.prefix) || !strings.HasSuffix(out, p.suffix) {
		return "", fmt.Errorf("escape probe %q: unexpected output %q", p.prefix+p.suffix, out)
	}
	return out[len(p.prefix) : len(out)-len(p.suffix)], nil
}

// escapeChains maps each escaper pipeline the probes meet, as its
// command names joined by spaces, to the chain. The probes are the
// contexts where the pages put words and addresses: text, a quoted
// attribute, RCDATA (<title>), a URL attribute and a mailto: link. A
// pipeline not here (JavaScript, CSS, an unquoted attribute) is left to
// execute as written.
var escapeChains = sync.OnceValue(func() map[string]escapeChain {
	chains := map[string]escapeChain{}
	for _, m := range [][2]string{{"", ""}, {`<p title="`, `">`}, {"<title>", "</title>"}, {`<a href="`, `">`},
		{`<a href="mailto:`, `">`}} {
		p := probe{t: template.Must(template.New("probe").Parse(m[0] + "{{.}}" + m[1])), prefix: m[0], suffix: m[1]}
		if _, err := p.escape(""); err != nil { // escapes the probe's tree
			panic(err)
		}
		for _, n := range p.t.Tree.Root.Nodes {
			if a, ok := n.(*parse.ActionNode); ok {
				if names, ok := escaperNames(a.Pipe.Cmds[1:]); ok {
					chains[names] = p.escape
				}
			}
		}
	}
	return chains
})

// escaperNames joins the names of an escaper pipeline's commands, each a
// lone identifier; ok is false for anything else, and for no commands.
func escaperNames(cmds []*parse.CommandNode) (string, bool) {
	if len(cmds) == 0 {
		return "", false
	}
	names := make([]string, len(cmds))
	for i, c := range cmds {
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if !ok || len(c.Args) != 1 || !strings.HasPrefix(id.Ident, "_html_template_") {
			return "", false
		}
		names[i] = id.Ident
	}
	return strings.Join(names, " "), true
}

// folder folds one language's words into a page's escaped templates.
type folder struct {
	p      *i18n.Printer
	r      *Renderer
	chains map[string]escapeChain
}

// foldPage returns page t (parsed for this alone) with what is the same on
// every showing in p's language folded into text. t is escaped first, as
// its first showing would: the escapers html/template puts after each
// action say the context.
func foldPage(t *template.Template, p *i18n.Printer, r *Renderer) (*template.Template, error) {
	// Escaping needs no data; executing with none stops at the first
	// field. Only an escaping error (a *template.Error) matters here.
	if err := t.ExecuteTemplate(io.Discard, "layout", nil); err != nil {
		if te := (*template.Error)(nil); errors.As(err, &te) {
			return nil, fmt.Errorf("escape template %s: %w", t.Name(), err)
		}
	}
	f := folder{p: p, r: r, chains: escapeChains()}
	for _, x := range t.Templates() {
		if x.Tree != nil && x.Tree.Root != nil {
			if err := f.list(x.Tree.Root); err != nil {
				return nil, fmt.Errorf("fold template %s: %w", x.Name(), err)
			}
		}
	}
	return t, nil
}

// list folds the nodes of l: fixed actions become text, a condition on
// fixed values becomes the branch it picks, and text nodes that end up
// side by side are joined.
func (f folder) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	var nodes []parse.Node
	add := func(n parse.Node) {
		if t, ok := n.(*parse.TextNode); ok && len(nodes) > 0 {
			if prev, ok := nodes[len(nodes)-1].(*parse.TextNode); ok {
				joined := append(append([]byte(nil), prev.Text...), t.Text...)
				nodes[len(nodes)-1] = &parse.TextNode{NodeType: parse.NodeText, Pos: prev.Pos, Text: joined}
				return
			}
		}
		nodes = append(nodes, n)
	}
	for _, n := range l.Nodes {
		switch x := n.(type) {
		case *parse.ActionNode:
			text, ok, err := f.action(x)
			if err != nil {
				return err
			}
			if ok {
				n = &parse.TextNode{NodeType: parse.NodeText, Pos: x.Pos, Text: []byte(text)}
			}
		case *parse.IfNode:
			if err := f.branch(&x.BranchNode); err != nil {
				return err
			}
			if picked, ok := f.pick(x); ok {
				if picked != nil {
					for _, m := range picked.Nodes {
						add(m)
					}
				}
				continue
			}
		case *parse.RangeNode:
			if err := f.branch(&x.BranchNode); err != nil {
				return err
			}
		case *parse.WithNode:
			if err := f.branch(&x.BranchNode); err != nil {
				return err
			}
		case *parse.ListNode:
			if err := f.list(x); err != nil {
				return err
			}
		}
		add(n)
	}
	l.Nodes = nodes
	return nil
}

func (f folder) branch(b *parse.BranchNode) error {
	if err := f.list(b.List); err != nil {
		return err
	}
	return f.list(b.ElseList)
}

// pick is the branch an if on fixed values always takes (nil for an
// absent else), when it can stand in the if's place: a branch that
// declares variables keeps its scope.
func (f folder) pick(n *parse.IfNode) (*parse.ListNode, bool) {
	if len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 {
		return nil, false
	}
	cond, ok := f.truth(n.Pipe.Cmds[0])
	if !ok {
		return nil, false
	}
	picked := n.ElseList
	if cond {
		picked = n.List
	}
	if picked != nil {
		for _, m := range picked.Nodes {
			if a, ok := m.(*parse.ActionNode); ok && len(a.Pipe.Decl) > 0 {
				return nil, false
			}
		}
	}
	return picked, true
}

// truth is whether a condition on fixed values holds: a fixed value, or
// or, and, not of them.
func (f folder) truth(c *parse.CommandNode) (holds, ok bool) {
	if len(c.Args) == 1 {
		v, ok := f.fixed(c.Args[0])
		return v != "", ok
	}
	id, isIdent := c.Args[0].(*parse.IdentifierNode)
	if !isIdent {
		return false, false
	}
	vals := make([]bool, len(c.Args)-1)
	for i, a := range c.Args[1:] {
		v, ok := f.fixed(a)
		if !ok {
			return false, false
		}
		vals[i] = v != ""
	}
	switch {
	case id.Ident == "not" && len(vals) == 1:
		return !vals[0], true
	case id.Ident == "or":
		return slices.Contains(vals, true), true
	case id.Ident == "and":
		return !slices.Contains(vals, false), true
	}
	return false, false
}

// action is the escaped output of a, if it is fixed: a word, an address
// or a fixed value, in a context one of the chains escapes.
func (f folder) action(a *parse.ActionNode) (string, bool, error) {
	if len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) < 2 {
		return "", false, nil
	}
	names, _ := escaperNames(a.Pipe.Cmds[1:])
	chain, ok := f.chains[names] // never "": a pipeline with no escaper is not folded
	if !ok {
		return "", false, nil
	}
	word, ok := f.word(a.Pipe.Cmds[0])
	if !ok {
		return "", false, nil
	}
	text, err := chain(word)
	return text, err == nil, err
}

// word is the value of a command that is the same on every showing in the
// folder's language: $.T with a message key alone, asset with a file
// name, or a fixed value.
func (f folder) word(c *parse.CommandNode) (string, bool) {
	if len(c.Args) == 1 {
		return f.fixed(c.Args[0])
	}
	if len(c.Args) != 2 {
		return "", false
	}
	arg, ok := c.Args[1].(*parse.StringNode)
	if !ok {
		return "", false
	}
	switch fn := c.Args[0].(type) {
	case *parse.VariableNode:
		if slices.Equal(fn.Ident, []string{"$", "T"}) {
			return f.p.T(arg.Text), true
		}
	case *parse.IdentifierNode:
		if fn.Ident == "asset" {
			u, ok := f.r.assets[arg.Text]
			return u, ok
		}
	}
	return "", false
}

// fixed is the value of $.Site, $.Lang or a $.Brand field: the View's
// fields that are the same on every showing in one language. Templates
// write them from $ to be folded (. may be anything).
func (f folder) fixed(n parse.Node) (string, bool) {
	v, ok := n.(*parse.VariableNode)
	if !ok || len(v.Ident) < 2 || v.Ident[0] != "$" {
		return "", false
	}
	switch path := v.Ident[1:]; {
	case len(path) == 1 && path[0] == "Site":
		return f.r.site, true
	case len(path) == 1 && path[0] == "Lang":
		return f.p.Tag().String(), true
	case len(path) == 2 && path[0] == "Brand":
		// A plain string only: html/template escapes a typed one
		// (template.URL) otherwise.
		field := reflect.ValueOf(f.r.brand).FieldByName(path[1])
		if field.IsValid() && field.Type() == reflect.TypeFor[string]() {
			return field.String(), true
		}
	}
	return "", false
}
