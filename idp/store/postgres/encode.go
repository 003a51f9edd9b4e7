package postgres

import "github.com/communityidp/idp/idp/store/internal/codec"

// Values are encoded, and rows scanned, by package codec
// (idp/store/internal/codec), which package sqlite shares, so both
// backends store the same values (see doc.go).

// scanner is a pgx.Row or pgx.Rows.
type scanner = codec.Scanner
