package password

import (
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Hashes made by the systems members come from, each checked with its
// own library and always marked for an argon2id rehash.
func TestVerifyImportedHashes(t *testing.T) {
	php, err := bcrypt.GenerateFromPassword([]byte("laravel secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("sixteen byte salt")
	argon2i := "$argon2i$v=19$m=4096,t=3,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.Key([]byte("old argon"), salt, 3, 4096, 1, 32))
	long := strings.Repeat("x", 72)
	longHash, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	for _, c := range []struct {
		name, hash, right string
		scheme            Scheme
	}{
		// The example of PHP's crypt() manual page.
		{"PHP $2y$", "$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq", "rasmuslerdorf", SchemeBcrypt},
		{"$2a$", string(php), "laravel secret", SchemeBcrypt},
		{"$2b$", "$2b$" + strings.TrimPrefix(string(php), "$2a$"), "laravel secret", SchemeBcrypt},
		// Computed with Python's hashlib.pbkdf2_hmac, as Django does.
		{"Django", "pbkdf2_sha256$260000$Qx7sZ9pLmE2v$jeFteq1mveKqQWW2925LpKU6RsJvCPkqnxZ/zQmVWDQ=", "correct horse ünïcode", SchemeDjango},
		{"argon2i", argon2i, "old argon", SchemeArgon2i},
		// bcrypt reads 72 bytes, like PHP: what follows does not count.
		{"bcrypt over 72 bytes", string(longHash), long + "ignored", SchemeBcrypt},
	} {
		scheme, err := SchemeOf(c.hash)
		if err != nil || scheme != c.scheme {
			t.Errorf("%s: SchemeOf = %q, %v; want %q", c.name, scheme, err, c.scheme)
		}
		ok, rehash, err := Verify(c.hash, c.right)
		if !ok || !rehash || err != nil {
			t.Errorf("%s: right password: ok=%v rehash=%v err=%v", c.name, ok, rehash, err)
		}
		wrong := c.right[:len(c.right)-1]
		if c.name == "bcrypt over 72 bytes" {
			wrong = long[:71] + "y"
		}
		ok, _, err = Verify(c.hash, wrong)
		if ok || err != nil {
			t.Errorf("%s: wrong password: ok=%v err=%v", c.name, ok, err)
		}
	}
}

func TestSchemeOfRejects(t *testing.T) {
	for _, h := range []string{
		"",
		"plaintext",
		"md5$abc$def",
		"$2y$31$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq", // cost 31: hours per check
		"$2y$07$short",
		"pbkdf2_sha256$0$salt$jeFteq1mveKqQWW2925LpKU6RsJvCPkqnxZ/zQmVWDQ=",
		"pbkdf2_sha256$99999999$salt$jeFteq1mveKqQWW2925LpKU6RsJvCPkqnxZ/zQmVWDQ=",
		"pbkdf2_sha256$1000$$jeFteq1mveKqQWW2925LpKU6RsJvCPkqnxZ/zQmVWDQ=",
		"pbkdf2_sha256$1000$salt$not base64!",
		"pbkdf2_sha1$1000$salt$jeFteq1mveKqQWW2925LpKU6RsJvCPkqnxZ/zQmVWDQ=",
		"$argon2i$v=19$m=99999999,t=3,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2d$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if s, err := SchemeOf(h); err == nil {
			t.Errorf("SchemeOf(%q) = %q, want an error", h, s)
		}
		if ok, _, err := Verify(h, "x"); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want an error", h, ok, err)
		}
	}
}
