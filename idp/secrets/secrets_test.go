package secrets_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/sqlite"
	"github.com/communityidp/idp/idp/store/storetest"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secrets.KeySize) }

func TestSealOpen(t *testing.T) {
	kr, err := secrets.NewKeyring(key(1))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the token crypto key, 32 bytes..")
	sealed, err := kr.Seal(store.PurposeSecret, "op_crypto_key", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) || !secrets.IsSealed(sealed) || secrets.SealedBy(sealed) != kr.ID() {
		t.Fatalf("sealed value %x", sealed)
	}
	got, err := kr.Open(store.PurposeSecret, "op_crypto_key", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q %v", got, err)
	}
	// Moved to another row, or altered, it does not open.
	if _, err := kr.Open(store.PurposeSecret, "csrf_key", sealed); err == nil {
		t.Error("a value opened under another row's name")
	}
	if _, err := kr.Open(store.PurposeSigningKey, "op_crypto_key", sealed); err == nil {
		t.Error("a value opened under another purpose")
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := kr.Open(store.PurposeSecret, "op_crypto_key", bad); err == nil {
		t.Error("an altered value opened")
	}
	if _, err := kr.Open(store.PurposeSecret, "x", plain); !errors.Is(err, secrets.ErrNotSealed) {
		t.Errorf("a value in clear: %v, want ErrNotSealed", err)
	}
	// Another KEK: refused, naming the KEK it needs; with the old one
	// listed, it opens.
	other, _ := secrets.NewKeyring(key(2))
	if _, err := other.Open(store.PurposeSecret, "op_crypto_key", sealed); err == nil || !strings.Contains(err.Error(), kr.ID()) {
		t.Errorf("under another KEK: %v", err)
	}
	rotated, _ := secrets.NewKeyring(key(2), key(1))
	if got, err := rotated.Open(store.PurposeSecret, "op_crypto_key", sealed); err != nil || !bytes.Equal(got, plain) || rotated.Current(sealed) {
		t.Errorf("under the old KEK of a rotated keyring: %q %v", got, err)
	}
}

func TestParseKey(t *testing.T) {
	k := key(7)
	for _, form := range []string{
		base64.StdEncoding.EncodeToString(k) + "\n", base64.RawURLEncoding.EncodeToString(k),
		"  " + strings.Repeat("07", 32) + "\n", string(k),
	} {
		got, err := secrets.ParseKey([]byte(form))
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %x, %v", form, got, err)
		}
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(k[:16]), strings.Repeat("zz", 32)} {
		if _, err := secrets.ParseKey([]byte(bad)); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

// The development provider creates its KEK next to the SQLite database,
// mode 0600, once; an https issuer without one is refused.
func TestLoadDevelopmentKey(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Database.DSN = filepath.Join(dir, "idp.db")
	a, err := secrets.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, secrets.DevKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("development KEK: %v, mode %v", err, fi.Mode())
	}
	b, err := secrets.Load(cfg)
	if err != nil || a.ID() != b.ID() {
		t.Fatalf("the second start made another KEK: %v", err)
	}
	cfg.Issuer = "https://login.example.org"
	if _, err := secrets.Load(cfg); err == nil || !strings.Contains(err.Error(), "secrets.key_file") {
		t.Fatalf("https issuer without a KEK: %v", err)
	}
	cfg.Secrets.KeyFile = filepath.Join(dir, "missing")
	if _, err := secrets.Load(cfg); err == nil || !strings.Contains(err.Error(), "secrets.key_file") {
		t.Fatalf("missing key file: %v", err)
	}
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	st := storetest.SQLite(t)
	return st
}

// Values written in clear by an older version, or under an older KEK, are
// sealed under the current KEK by Upgrade; the wrapped store hands them
// out in clear and a key rotated in meanwhile is sealed too.
func TestUpgradeAndWrap(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t)
	clearSecret := []byte("0123456789abcdef0123456789abcdef")
	if _, err := raw.Secret(ctx, "csrf_key", func() ([]byte, error) { return clearSecret, nil }); err != nil {
		t.Fatal(err)
	}
	der := []byte("0\x82 a PKCS #8 private key")
	if err := raw.RotateSigningKey(ctx, &store.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: der, CreatedAt: time.Unix(1, 0)}, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	oldKR, _ := secrets.NewKeyring(key(1))
	if n, err := secrets.Upgrade(ctx, raw, oldKR); err != nil || n != 2 {
		t.Fatalf("upgrade from clear: %d %v", n, err)
	}
	if n, err := secrets.Upgrade(ctx, raw, oldKR); err != nil || n != 0 {
		t.Fatalf("a second upgrade changed %d (%v)", n, err)
	}
	// A new KEK without the old one: refused, nothing changed.
	newOnly, _ := secrets.NewKeyring(key(2))
	if _, err := secrets.Upgrade(ctx, raw, newOnly); err == nil {
		t.Fatal("upgrade under an unknown KEK succeeded")
	}
	rotated, _ := secrets.NewKeyring(key(2), key(1))
	if n, err := secrets.Upgrade(ctx, raw, rotated); err != nil || n != 2 {
		t.Fatalf("upgrade to the new KEK: %d %v", n, err)
	}
	st := secrets.Wrap(raw, newOnly)
	got, err := st.Secret(ctx, "csrf_key", func() ([]byte, error) { return nil, errors.New("must not generate") })
	if err != nil || !bytes.Equal(got, clearSecret) {
		t.Fatalf("secret through the wrap: %q %v", got, err)
	}
	keys, err := st.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].PrivateKey, der) {
		t.Fatalf("signing keys through the wrap: %v %v", keys, err)
	}
	if err := st.RotateSigningKey(ctx, &store.SigningKey{ID: "k2", Algorithm: "ES256", PrivateKey: der, CreatedAt: time.Unix(2, 0)}, "k1", time.Unix(3, 0)); err != nil {
		t.Fatal(err)
	}
	rows, _ := raw.SigningKeys(ctx)
	for _, r := range rows {
		if !newOnly.Current(r.PrivateKey) {
			t.Errorf("key %s is not sealed under the current KEK", r.ID)
		}
	}
	// Generated secrets are sealed from the start.
	if _, err := st.Secret(ctx, "fresh", func() ([]byte, error) { return []byte("new secret"), nil }); err != nil {
		t.Fatal(err)
	}
	v, _ := raw.Secret(ctx, "fresh", nil)
	if !newOnly.Current(v) {
		t.Errorf("a generated secret is stored as %q", v)
	}
}

// An import seals what the dump has in clear and re-seals what is sealed
// under another KEK of the keyring; an unknown KEK stops it.
func TestImportReseals(t *testing.T) {
	ctx := t.Context()
	oldKR, _ := secrets.NewKeyring(key(1))
	sealedOld, _ := oldKR.Seal(store.PurposeSecret, "csrf_key", []byte("csrf"))
	recs := []store.Record{
		{Kind: store.KindSecret, Secret: &store.Secret{Name: "op_crypto_key", Value: []byte("in clear, from an old dump")}},
		{Kind: store.KindSecret, Secret: &store.Secret{Name: "csrf_key", Value: sealedOld}},
	}
	feed := func() func() (store.Record, error) {
		i := 0
		return func() (store.Record, error) {
			if i == len(recs) {
				return store.Record{}, io.EOF
			}
			i++
			return recs[i-1], nil
		}
	}
	cur, _ := secrets.NewKeyring(key(2), key(1))
	raw := openSQLite(t)
	if _, err := secrets.Wrap(raw, cur).Import(ctx, feed(), false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"op_crypto_key": "in clear, from an old dump", "csrf_key": "csrf"} {
		v, _ := raw.Secret(ctx, name, nil)
		plain, err := cur.Open(store.PurposeSecret, name, v)
		if !cur.Current(v) || err != nil || string(plain) != want {
			t.Errorf("%s after import: %q %v", name, plain, err)
		}
	}
	stranger, _ := secrets.NewKeyring(key(3))
	if _, err := secrets.Wrap(openSQLite(t), stranger).Import(ctx, feed(), false); err == nil {
		t.Error("an import sealed under an unknown KEK went through")
	}
}
