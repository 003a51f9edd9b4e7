package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"

	"github.com/communityidp/idp/idp/password"
)

// legacyHashes are hashes as other systems store them, one per format:
// bcrypt at PHP's default cost (10), Django's PBKDF2-SHA256 at its 5.0
// default iterations, argon2i and PHP's argon2id.
func legacyHashes(t *testing.T) map[string][2]string {
	t.Helper()
	bc, err := bcrypt.GenerateFromPassword([]byte("php forum password"), 10)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("DjangoSalt1234")
	django := fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", 870000, salt,
		base64.StdEncoding.EncodeToString(pbkdf2.Key([]byte("django site password"), salt, 870000, 32, sha256.New)))
	phc := func(name string, key func(pw, salt []byte) []byte, params, pw string) string {
		s := []byte("sixteen byte sal")
		return fmt.Sprintf("$%s$v=19$%s$%s$%s", name, params, base64.RawStdEncoding.EncodeToString(s),
			base64.RawStdEncoding.EncodeToString(key([]byte(pw), s)))
	}
	a2i := phc("argon2i", func(pw, s []byte) []byte { return argon2.Key(pw, s, 4, 8192, 1, 32) }, "m=8192,t=4,p=1", "argon2i password")
	a2id := phc("argon2id", func(pw, s []byte) []byte { return argon2.IDKey(pw, s, 4, 65536, 1, 32) }, "m=65536,t=4,p=1", "php argon2id password")
	// The PHP manual's bcrypt example, as PHP writes it ($2y$).
	return map[string][2]string{
		"bcrypt":   {strings.Replace(string(bc), "$2a$", "$2y$", 1), "php forum password"},
		"django":   {django, "django site password"},
		"argon2i":  {a2i, "argon2i password"},
		"argon2id": {a2id, "php argon2id password"},
		"php":      {"$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq", "rasmuslerdorf"},
	}
}

// A community of 10,000 members moves in while the provider serves:
// each kind of hash signs its member in with the old password and is
// argon2id afterwards; a malformed row is reported by its line and
// nothing of it is stored; members without a password are invited; the
// same file again changes nothing.
func TestImportMembers(t *testing.T) {
	mp := startMailpit(t)
	s := mailProcess(t, fmt.Sprintf("127.0.0.1:%d", mp.smtpPort))
	s.start(t, "serving")
	hashes := legacyHashes(t)
	kinds := []string{"bcrypt", "django", "argon2i", "argon2id", "php"}

	const n, bad = 10000, 5001
	var csv strings.Builder
	csv.WriteString("username,email,name,email_verified,role,password_hash\n")
	for i := 2; i <= n+1; i++ { // the line number of each row
		kind := kinds[i%len(kinds)]
		switch {
		case i == bad:
			csv.WriteString("broken,not-an-address,Broken,1,member," + hashes["bcrypt"][0] + "\n")
		case i%1000 == 0: // ten members without a password
			fmt.Fprintf(&csv, "nohash%d,nohash%d@example.org,No Hash %d,0,member,\n", i, i, i)
		default:
			role := "member"
			if i == 3 {
				role = "admin"
			}
			fmt.Fprintf(&csv, "%s%d,%s%d@example.org,\"Member, %d\",%d,%s,\"%s\"\n", kind, i, kind, i, i, i%2, role, hashes[kind][0])
		}
	}
	file := filepath.Join(s.dir, "members.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	importRun := func() (string, error) {
		cmd := exec.Command(s.bin, "users", "import", "--config", s.cfgFile, "--file", file)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	start := time.Now()
	out, err := importRun()
	took := time.Since(start)
	t.Logf("imported %d rows in %v", n, took.Round(time.Millisecond))
	if err == nil {
		t.Fatalf("an import with a bad row exited 0:\n%s", out)
	}
	wantLine := fmt.Sprintf("members.csv:%d: email:", bad)
	if !strings.Contains(out, wantLine) || !strings.Contains(out, "9999 created, 0 updated, 0 unchanged, 1 failed") ||
		!strings.Contains(out, "10 invitations mailed") {
		t.Fatalf("import said:\n%s", out)
	}
	if got := column(t, s.db, `SELECT COUNT(*) FROM users WHERE username = 'broken' OR email = 'not-an-address'`); !got["0"] {
		t.Errorf("the bad row left something: %v", got)
	}
	if got := column(t, s.db, `SELECT COUNT(*) FROM users`); !got["9999"] {
		t.Errorf("users after import: %v", got)
	}
	mp.wait("nohash1000@example.org", 1)

	// Members sign in with the passwords they had; their hash becomes
	// argon2id (PHP's argon2id stays: it is one already, as strong).
	remote := &provider{t: t, URL: s.issuer, clock: newClock()}
	for j, kind := range kinds {
		i := 10 + j // rows 10..14: one of each kind
		for i%len(kinds) != j {
			i++
		}
		login := fmt.Sprintf("%s%d", kind, i)
		b := newBrowser(t, remote)
		r := b.Submit(passwordPage(t, b, login), "Sign in", map[string]string{"Password": hashes[kind][1]})
		if r.URL.Path != "/settings" && r.URL.Path != "/login/suggest" {
			t.Errorf("%s (%s) did not sign in: %d %s", login, kind, r.Status, r.Text())
			continue
		}
		got := column(t, s.db, `SELECT password_hash FROM users WHERE username = ?`, login)
		for h := range got {
			if !isArgon2id(h) {
				t.Errorf("%s's hash after sign-in: %s", login, h)
			}
			if kind != "argon2id" && h == hashes[kind][0] {
				t.Errorf("%s's %s hash was kept", login, kind)
			}
			if ok, _, _ := password.Verify(h, hashes[kind][1]); !ok {
				t.Errorf("%s's new hash does not take the password", login)
			}
		}
		// A wrong password is refused as ever.
		w := newBrowser(t, remote)
		if r := w.Submit(passwordPage(t, w, login), "Sign in", map[string]string{"Password": "not the password"}); r.Status != 401 {
			t.Errorf("%s: wrong password answered %d", login, r.Status)
		}
	}
	if got := column(t, s.db, `SELECT role FROM users WHERE username = 'argon2id3'`); !got["admin"] {
		t.Errorf("role of line 3: %v", got)
	}

	// The same file again changes nothing, not even the rehashed members.
	before := column(t, s.db, `SELECT username || ' ' || password_hash || ' ' || updated_at FROM users`)
	out, err = importRun()
	if err == nil || !strings.Contains(out, "0 created, 0 updated, 9999 unchanged, 1 failed") || strings.Contains(out, "invitations mailed") {
		t.Fatalf("second run (%v):\n%s", err, out)
	}
	after := column(t, s.db, `SELECT username || ' ' || password_hash || ' ' || updated_at FROM users`)
	if len(before) != len(after) {
		t.Fatalf("second run changed the members: %d then %d", len(before), len(after))
	}
	for row := range before {
		if !after[row] {
			t.Fatalf("second run changed %s", row)
		}
	}
	mp.quiet("nohash1000@example.org", 1)

	// A changed row updates that member, and only it.
	fixed := strings.Replace(csv.String(), "broken,not-an-address", "fixed,fixed@example.org", 1)
	fixed = strings.Replace(fixed, "\"Member, 11\"", "\"Renamed Member\"", 1)
	if err := os.WriteFile(file, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = importRun()
	if err != nil || !strings.Contains(out, "1 created, 1 updated, 9998 unchanged, 0 failed") {
		t.Fatalf("after fixing the file (%v):\n%s", err, out)
	}
	if got := column(t, s.db, `SELECT name FROM users WHERE username = 'django11'`); !got["Renamed Member"] {
		t.Errorf("updated name: %v", got)
	}
}
