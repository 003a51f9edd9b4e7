package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use the OWASP parameters", h)
	}
	ok, rehash, err := Verify(h, "correct horse battery staple")
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right) = %v, %v, %v", ok, rehash, err)
	}
	ok, _, err = Verify(h, "correct horse battery stapl")
	if err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
	// No truncation: a long password differs from its prefix.
	long := strings.Repeat("a", 200)
	h2, _ := Hash(long)
	if ok, _, _ := Verify(h2, long[:128]); ok {
		t.Fatal("a 128-character prefix matched a 200-character password")
	}
}

func TestNeedsRehash(t *testing.T) {
	weak := Params{Memory: 4096, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	h, _ := HashWith("pw-pw-pw-pw", weak)
	ok, rehash, err := Verify(h, "pw-pw-pw-pw")
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(weak) = %v, %v, %v; want ok and rehash", ok, rehash, err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,x=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
	} {
		if _, _, _, err := Parse(h); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Parse(%q) = %v, want ErrMalformedHash", h, err)
		}
	}
}

func TestCheckPolicy(t *testing.T) {
	cases := []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{"eightch!", true},
		{"        ", false},
		{strings.Repeat("ü", 64), true},
		{strings.Repeat("x", MaxLength+1), false},
		{"bad\xffutf8-", false},
		{"only lowercase letters", true}, // no composition rules
		{"password", false},
		{"PassWord1", false}, // the list is matched ignoring case
		{"12345678", false},
		{"iloveyou", false},
		{"qwertyuiop", false},
		{"alice@example.org", false}, // the member's email
		{" Alice-Example ", false},   // the username, whatever the case
		{"Community Hub", false},     // the site name
		{"alice@example.org and more", true},
	}
	for _, c := range cases {
		err := CheckPolicy(c.pw, 8, "alice-example", "alice@example.org", "Community Hub")
		if (err == nil) != c.ok {
			t.Errorf("CheckPolicy(%.20q) = %v, want ok=%v", c.pw, err, c.ok)
		}
	}
}

func TestCommonListLoaded(t *testing.T) {
	if n := len(common()); n < 10000 {
		t.Fatalf("common password list has %d entries", n)
	}
	for pw := range common() {
		if len([]rune(pw)) < 8 || pw != strings.ToLower(pw) {
			t.Fatalf("list entry %q is short or not lower-case", pw)
		}
	}
}

// The dummy hash costs what a member's hash costs, and nothing matches it.
func TestDummyHash(t *testing.T) {
	p, _, _, err := Parse(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if p.Memory != DefaultParams.Memory || p.Time != DefaultParams.Time || p.Threads != DefaultParams.Threads {
		t.Errorf("dummy hash parameters %+v, want %+v", p, DefaultParams)
	}
	for _, pw := range []string{"", "dummy", "dummy password for timing equalisation"} {
		if ok, _, err := Verify(dummyHash, pw); ok || err != nil {
			t.Errorf("Verify(dummy, %q) = %v, %v", pw, ok, err)
		}
	}
}
