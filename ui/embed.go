// Package ui holds the provider's pages: html/template files (one layout,
// one file per page), the static assets (one stylesheet, a little vanilla
// JavaScript) and the message catalogs the pages are written from (one
// JSON file per language). Nothing here is built or fetched from third
// parties.
package ui

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Templates are the page templates under templates/.
//
//go:embed templates/*.html
var Templates embed.FS

// Mail are the templates of the mail the provider sends: message.html and
// message.txt, filled with texts from the catalogs.
//
//go:embed mail/*
var Mail embed.FS

// Static are the assets under static/, served at /static/.
//
//go:embed static
var Static embed.FS

// Locales are the message catalogs under locales/: locales/<tag>.json, a
// flat JSON object of message key to text, one file per language (BCP 47
// tag as the file name). en.json is the reference: it has every key.
//
//go:embed locales/*.json
var Locales embed.FS

// Languages lists the shipped languages, the names of locales/*.json
// without the extension, sorted.
func Languages() []string {
	files, _ := fs.Glob(Locales, "locales/*.json")
	out := make([]string, 0, len(files))
	for _, f := range files {
		out = append(out, strings.TrimSuffix(path.Base(f), ".json"))
	}
	sort.Strings(out)
	return out
}
