package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// dumpFormat is the version of the export format; import reads it and
// format 2 (whose access tokens are stored under their bare id).
const dumpFormat = 3

// dumpHeader is the first line of a dump.
type dumpHeader struct {
	Kind       string    `json:"kind"` // "header"
	Format     int       `json:"format"`
	ExportedAt time.Time `json:"exported_at"`
	From       string    `json:"from"`
	// SealedWith names the key-encryption key the dump's private keys and
	// secrets are sealed under: importing it needs that key.
	SealedWith string `json:"sealed_with,omitempty"`
}

// export writes the database's durable state as JSON lines: a header, then
// one store.Record per line. Sign-ins in progress are not exported.
func export(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("export")
	cfgPath := c.configFlag(fs)
	output := fs.String("output", "", "write to `FILE` instead of standard output")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cfg, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	out := c.stdout
	if *output != "" {
		f, err := os.OpenFile(*output, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	head := dumpHeader{Kind: "header", Format: dumpFormat, ExportedAt: time.Now().UTC(), From: cfg.Database.Driver,
		SealedWith: st.Keyring().ID()}
	if err := enc.Encode(head); err != nil {
		return err
	}
	counts := map[string]int{}
	prog := newProgress(c.stderr, "exported", "records")
	if err := st.Export(ctx, func(r store.Record) error {
		counts[r.Kind]++
		prog.add()
		return enc.Encode(r)
	}); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write dump: %w", err)
	}
	fmt.Fprintf(c.stderr, "exported %s; the signing keys and secrets in it are sealed under key-encryption key %s, which an import needs; it holds password hashes: keep it safe\n",
		summary(counts), head.SealedWith)
	return nil
}

// importCmd reads a dump made by export into the configured database, in
// one transaction. A database that already has data is refused unless
// --wipe is given, which replaces everything in it.
func importCmd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("import")
	cfgPath := c.configFlag(fs)
	input := fs.String("input", "", "read from `FILE` instead of standard input")
	wipe := fs.Bool("wipe", false, "delete everything in the target database first (it is refused when not empty otherwise)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	in := c.stdin
	if *input != "" {
		f, err := os.Open(*input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		defer f.Close()
		in = f
	}
	dec := json.NewDecoder(bufio.NewReader(in))
	var h dumpHeader
	if err := dec.Decode(&h); err != nil || h.Kind != "header" {
		return fmt.Errorf("the input does not start with an idp export header (make it with `idp export`)")
	}
	if h.Format != dumpFormat && h.Format != 2 {
		return fmt.Errorf("the dump has format %d; this idp reads formats 2 and %d", h.Format, dumpFormat)
	}
	_, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	line := 1
	prog := newProgress(c.stderr, "read", "records")
	stats, err := st.Import(ctx, func() (store.Record, error) {
		var r store.Record
		line++
		prog.add()
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				return r, io.EOF
			}
			return r, fmt.Errorf("line %d: %w", line, err)
		}
		if h.Format == 2 && r.AccessToken != nil {
			a := *r.AccessToken
			a.ID = store.AccessTokenKey(a.ID)
			r.AccessToken = &a
		}
		return r, nil
	}, *wipe)
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("the target database already has data; nothing was imported (use --wipe to replace it)")
	}
	if err != nil {
		return fmt.Errorf("import (nothing was written): %w", err)
	}
	fmt.Fprintf(c.stdout, "imported %s\n", summary(stats))
	return nil
}

// progressEvery is how often a long export or import says how far it is.
var progressEvery = 5 * time.Second

// progress tells, on standard error, how far a long export or import has
// come, so that a million members do not look like a hang.
type progress struct {
	w          io.Writer
	verb, noun string
	n          int
	start, due time.Time
}

func newProgress(w io.Writer, verb, noun string) *progress {
	now := time.Now()
	return &progress{w: w, verb: verb, noun: noun, start: now, due: now.Add(progressEvery)}
}

// add counts one record, and reports when it is time.
func (p *progress) add() {
	p.n++
	if p.n%1000 != 0 && progressEvery > 0 {
		return
	}
	if now := time.Now(); !now.Before(p.due) {
		fmt.Fprintf(p.w, "%s %d %s so far (%s)\n", p.verb, p.n, p.noun, now.Sub(p.start).Round(time.Second))
		p.due = now.Add(progressEvery)
	}
}

func summary(counts map[string]int) string {
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	s := ""
	for i, k := range kinds {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", counts[k], k)
	}
	if s == "" {
		return "nothing"
	}
	return s
}
