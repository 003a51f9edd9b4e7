// Package ui holds the provider's pages: html/template files (one layout,
// one file per page) and the static assets (one stylesheet, a little
// vanilla JavaScript). Nothing here is built or fetched from third parties.
package ui

import "embed"

// Templates are the page templates under templates/.
//
//go:embed templates/*.html
var Templates embed.FS

// Static are the assets under static/, served at /static/.
//
//go:embed static
var Static embed.FS
