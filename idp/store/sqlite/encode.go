package sqlite

// Values are encoded by package codec (idp/store/internal/codec), which
// package postgres shares, so both backends store the same values.

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}
