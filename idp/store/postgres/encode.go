package postgres

// Values are encoded by package codec (idp/store/internal/codec), which
// package sqlite shares, so both backends store the same values (see
// doc.go).

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}
