package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/store"
)

// Whoever copies the database file (and its write-ahead log) finds no
// private signing key, no generated secret and no live access token id in
// it, and neither does whoever reads an export: the outside review forged
// ID tokens and rebuilt access tokens from such a copy.
func TestDatabaseCopyHoldsNothingToForgeWith(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	tok, _ := site.exchange(mustNoError(t, newBrowser(t, p).signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))

	// What must not be found: every published key's public numbers (a
	// private key's DER holds them), the token crypto key and the CSRF
	// key, and the id inside the live access token.
	needles := map[string][]byte{}
	resp, err := http.Get(p.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct{ Keys []map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, k := range jwks.Keys {
		for _, f := range []string{"n", "x", "y"} {
			if v := k[f]; v != "" {
				b, err := base64.RawURLEncoding.DecodeString(v)
				if err != nil {
					t.Fatal(err)
				}
				needles[k["kid"]+"."+f] = b
			}
		}
	}
	ctx := context.Background()
	for _, name := range []string{"op_crypto_key", "csrf_key", "webauthn_fake_key"} {
		v, err := p.store.Secret(ctx, name, func() ([]byte, error) { t.Fatalf("%s does not exist", name); return nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		needles[name] = v
	}
	var cryptoKey [32]byte
	copy(cryptoKey[:], needles["op_crypto_key"])
	plain, err := op.NewAES256GCMCrypto(cryptoKey, "").Decrypt(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(plain, ":")
	needles["live access token id"] = []byte(id)
	if len(needles) < 6 {
		t.Fatalf("only %d things to look for", len(needles))
	}

	search := func(where string, data []byte) {
		t.Helper()
		for what, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("%s holds %s in clear", where, what)
			}
		}
	}
	db := p.cfg.Database.DSN
	for _, f := range []string{db, db + "-wal"} {
		data, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		search(filepath.Base(f), data)
	}

	// An export: sealed too, and it says under which key.
	bin, err := buildIDP()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgFile := writeYAML(t, dir, "idp.yaml", "issuer: "+p.URL+"\ndatabase: {driver: sqlite, dsn: "+db+"}\nsecrets: {key: "+p.cfg.Secrets.Key+"}\n")
	dump := filepath.Join(dir, "dump.jsonl")
	out, err := exec.Command(bin, "export", "--config", cfgFile, "--output", dump).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sealed under key-encryption key") {
		t.Fatalf("export: %v %s", err, out)
	}
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		var r store.Record
		if json.Unmarshal(line, &r) == nil {
			switch {
			case r.Secret != nil:
				raw = append(raw, r.Secret.Value...)
			case r.SigningKey != nil:
				raw = append(raw, r.SigningKey.PrivateKey...)
			}
		}
	}
	search("the export", append(data, raw...))
	if fi, err := os.Stat(dump); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}
