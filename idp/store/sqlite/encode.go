package sqlite

import "github.com/communityidp/idp/idp/store/internal/codec"

// Values are encoded, and rows scanned, by package codec
// (idp/store/internal/codec), which package postgres shares, so both
// backends store the same values.

// scanner is *sql.Row or *sql.Rows.
type scanner = codec.Scanner
