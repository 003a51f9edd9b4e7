package postgres

import (
	"fmt"
	"strings"

	"github.com/communityidp/idp/idp/store/internal/codec"
)

// Values are encoded, and rows scanned, by package codec
// (idp/store/internal/codec), which package sqlite shares, so both
// backends store the same values (see doc.go).

// scanner is a pgx.Row or pgx.Rows.
type scanner = codec.Scanner

// params is "$1, $2, ... $n", the placeholders of an n-value insert.
func params(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}
