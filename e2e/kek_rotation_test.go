package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/keys"
	sealed "github.com/communityidp/idp/idp/secrets"
)

// publishedKeys lists the provider's published keys as "alg:kid".
func publishedKeys(t *testing.T, issuer string) []string {
	t.Helper()
	var out []string
	for _, k := range jwksAt(t, issuer) {
		out = append(out, k.Algorithm+":"+k.KeyID)
	}
	return out
}

// sealedBy reports, for each sealed value in the SQLite file, which KEK
// sealed it ("" for a value in clear).
func sealedBy(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for q, prefix := range map[string]string{
		"SELECT name || '=' || hex(value) FROM secrets":          "secret ",
		"SELECT id || '=' || hex(private_key) FROM signing_keys": "key ",
	} {
		for row := range column(t, db, q) {
			name, hexValue, _ := strings.Cut(row, "=")
			v := make([]byte, len(hexValue)/2)
			for i := range v {
				var b byte
				for _, c := range hexValue[2*i : 2*i+2] {
					b = b<<4 | byte(strings.IndexRune("0123456789ABCDEF", c))
				}
				v[i] = b
			}
			out[prefix+name] = sealed.SealedBy(v)
		}
	}
	return out
}

// The KEK is rotated while the provider serves: sign-ins, tokens and the
// JWKS keep working throughout, every value ends up sealed under the new
// KEK, the provider restarts on the new KEK alone, and refuses the old one
// alone with a message naming the setting.
func TestRotateKEKOnline(t *testing.T) {
	ctx := context.Background()
	s := newSQLiteProcess(t)
	dir := filepath.Dir(s.cfgFile)
	oldKEK, newKEK := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	for _, f := range []string{oldKEK, newKEK} {
		if err := sealed.NewKeyFile(f); err != nil {
			t.Fatal(err)
		}
	}
	base, err := os.ReadFile(s.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	useKEK := func(current string, old ...string) {
		t.Helper()
		cfg := string(base) + "secrets:\n  key_file: " + current + "\n"
		if len(old) > 0 {
			cfg += "  old_key_files: [" + strings.Join(old, ", ") + "]\n"
		}
		if err := os.WriteFile(s.cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	useKEK(oldKEK)
	if err := s.addMember(ctx, "rita"); err != nil {
		t.Fatal(err)
	}
	r := s.start(t, "before the rotation")
	oauth := siteOAuth(t, s.issuer)
	tok, err := newLoadClient(s.issuer, oauth).signIn(ctx, "rita", loadPassword)
	if err != nil {
		t.Fatal(err)
	}
	kidsBefore := publishedKeys(t, s.issuer)

	out, err := s.idp(ctx, "", "secrets", "rotate-kek", "--new-key-file", newKEK)
	if err != nil || !strings.Contains(out, "sealed") {
		t.Fatalf("rotate-kek: %v %s", err, out)
	}
	newID := strings.Fields(out[strings.Index(out, "key-encryption key ")+len("key-encryption key "):])[0]
	for what, by := range sealedBy(t, s.db) {
		if by != newID {
			t.Errorf("%s is sealed under %q after the rotation, want %s", what, by, newID)
		}
	}
	// The running provider did not notice.
	if got := publishedKeys(t, s.issuer); !slices.Equal(got, kidsBefore) {
		t.Errorf("JWKS changed under the rotation: %v, was %v", got, kidsBefore)
	}
	if tok.RefreshToken, _, err = newLoadClient(s.issuer, oauth).refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh during the rotation: %v", err)
	}
	if _, err := newLoadClient(s.issuer, oauth).signIn(ctx, "rita", loadPassword); err != nil {
		t.Fatalf("sign-in during the rotation: %v", err)
	}
	if e := dbEvents(t, s.db, "kek.rotated"); len(e) != 1 {
		t.Errorf("kek.rotated events: %v", e)
	}

	// Restart on the new KEK alone.
	stopReplica(t, r)
	useKEK(newKEK)
	r = s.start(t, "on the new KEK")
	if tok.RefreshToken, _, err = newLoadClient(s.issuer, oauth).refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh after a restart on the new KEK: %v", err)
	}
	stopReplica(t, r)

	// The old KEK alone cannot open anything, and says which setting.
	useKEK(oldKEK)
	serve := exec.Command(s.bin, "serve", "--config", s.cfgFile)
	serve.Env = append(os.Environ(), "IDP_LISTEN="+s.addr)
	msg, err := serve.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "secrets.key_file") || !strings.Contains(string(msg), newID) {
		t.Fatalf("start on the old KEK: %v\n%s", err, msg)
	}
}

// A leaked signing key is revoked while the provider runs: it leaves the
// JWKS within the reload interval, a fresh key signs in its place, and the
// revocation is in the audit log.
func TestRevokeLeakedSigningKey(t *testing.T) {
	ctx := context.Background()
	s := newSQLiteProcess(t)
	s.start(t, "provider")
	var leaked string
	for _, k := range publishedKeys(t, s.issuer) {
		if strings.HasPrefix(k, "RS256:") {
			leaked = strings.TrimPrefix(k, "RS256:")
		}
	}
	out, err := s.idp(ctx, "", "keys", "rotate", "--revoke", leaked)
	if err != nil || !strings.Contains(out, "revoked "+leaked) {
		t.Fatalf("revoke: %v %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for slices.Contains(publishedKeys(t, s.issuer), "RS256:"+leaked) {
		if time.Now().After(deadline) {
			t.Fatal("the revoked key is still published after 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := newLoadClient(s.issuer, siteOAuth(t, s.issuer)).signIn(ctx, "nobody-yet", "x"); err == nil {
		t.Fatal("a sign-in of an unknown member succeeded")
	}
	e := dbEvents(t, s.db, "key.revoked")
	if len(e) != 1 || !strings.Contains(e[0], leaked) {
		t.Errorf("key.revoked events: %v", e)
	}
	if _, err := s.idp(ctx, "", "keys", "rotate", "--revoke", leaked); err == nil {
		t.Error("revoking the key again succeeded")
	}
}

// dbEvents returns the audit events of a kind in the SQLite file, as their
// details.
func dbEvents(t *testing.T, db, kind string) []string {
	t.Helper()
	var out []string
	for d := range column(t, db, "SELECT details FROM audit_events WHERE kind = ?", kind) {
		out = append(out, d)
	}
	return out
}

// stopReplica ends an `idp serve` process gracefully.
func stopReplica(t *testing.T, r *replica) {
	t.Helper()
	_ = r.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		t.Fatal("the provider did not stop within 10 s")
	}
}

// The token crypto key and the CSRF key rotate while the provider serves:
// what the previous key made keeps working until it is dropped, and with
// --drop-previous (a leak) it stops at once, on every replica.
func TestRotateGeneratedSecrets(t *testing.T) {
	p := startProvider(t, nil)
	ctx := context.Background()
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	tok1, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	settings := b.Get(p.URL + "/settings") // a form opened before the rotations
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(3 * keys.ReloadInterval); !ok(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen after %s", what, 3*keys.ReloadInterval)
			}
		}
	}
	works := func(at string) bool { st, _, _ := userinfo(t, p, at); return st == 200 }

	if err := sealed.Rotate(ctx, p.store, sealed.CryptoKey, false); err != nil {
		t.Fatal(err)
	}
	vs, err := sealed.Versions(ctx, p.store, sealed.CryptoKey)
	if err != nil || len(vs) != 2 {
		t.Fatalf("after a rotation: %d versions, %v", len(vs), err)
	}
	var next [32]byte
	copy(next[:], vs[0])
	var tok2 *oauth2.Token
	eventually("the new token crypto key in use", func() bool {
		tok2, _ = site.exchange(codeFor(t, b))
		_, err := op.NewAES256GCMCrypto(next, "").Decrypt(tok2.AccessToken)
		return err == nil
	})
	if !works(tok1.AccessToken) || !works(tok2.AccessToken) {
		t.Fatal("an access token stopped working after a rotation that kept the previous key")
	}
	if err := sealed.Rotate(ctx, p.store, sealed.CSRFKey, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(keys.ReloadInterval + time.Second)
	if r := b.Submit(settings.page, "Save profile", map[string]string{"Name": "Alice E."}); r.Status != 200 {
		t.Fatalf("a form opened before the CSRF key rotation: %d %s", r.Status, r.Text())
	}

	// A leak: drop the previous values.
	if err := sealed.Rotate(ctx, p.store, sealed.CryptoKey, true); err != nil {
		t.Fatal(err)
	}
	if err := sealed.Rotate(ctx, p.store, sealed.CSRFKey, true); err != nil {
		t.Fatal(err)
	}
	eventually("access tokens of the dropped key refused", func() bool { return !works(tok2.AccessToken) && !works(tok1.AccessToken) })
	if r := b.Submit(settings.page, "Save profile", map[string]string{"Name": "Alice F."}); r.Status != 403 {
		t.Fatalf("a form signed with a dropped CSRF key: %d", r.Status)
	}
}
