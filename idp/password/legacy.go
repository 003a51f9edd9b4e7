package password

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
)

// Hashes imported from another system keep their own format until the
// member's first sign-in, which replaces them with argon2id (Verify says
// needsRehash). Each is checked with the library made for it:
//
//   - bcrypt, $2a$, $2b$ and $2y$ (PHP's password_hash, Laravel, phpBB);
//   - PBKDF2-SHA256 in Django's format, pbkdf2_sha256$iterations$salt$hash;
//   - argon2i in the PHC format (argon2id is this package's own).
//
// Their costs are bounded like argon2id's: a stored hash must not make a
// single sign-in a denial of service.

// Scheme names a stored hash's format.
type Scheme string

const (
	SchemeArgon2id Scheme = "argon2id"
	SchemeArgon2i  Scheme = "argon2i"
	SchemeBcrypt   Scheme = "bcrypt"
	SchemeDjango   Scheme = "pbkdf2_sha256"
)

// SchemeOf reports the format of hash, after checking that it is well
// formed and that its cost is within bounds; an import checks every hash
// with it before storing any.
func SchemeOf(hash string) (Scheme, error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		_, _, _, err := Parse(hash)
		return SchemeArgon2id, err
	case strings.HasPrefix(hash, "$argon2i$"):
		_, _, _, err := parseArgon2i(hash)
		return SchemeArgon2i, err
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return SchemeBcrypt, checkBcrypt(hash)
	case strings.HasPrefix(hash, "pbkdf2_sha256$"):
		_, _, _, err := parseDjango(hash)
		return SchemeDjango, err
	}
	return "", errors.New("not a supported password hash: argon2id or argon2i (PHC), bcrypt ($2a$, $2b$, $2y$) or Django's pbkdf2_sha256$")
}

// verifyLegacy checks password against an imported hash.
func verifyLegacy(hash, password string) (bool, error) {
	scheme, err := SchemeOf(hash)
	if err != nil {
		return false, err
	}
	defer slots.give(slots.take())
	switch scheme {
	case SchemeBcrypt:
		// bcrypt reads at most 72 bytes; PHP and the other
		// implementations ignore the rest, so a longer password must too.
		pw := []byte(password)
		if len(pw) > 72 {
			pw = pw[:72]
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), pw)
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	case SchemeDjango:
		iter, salt, key, _ := parseDjango(hash)
		got := pbkdf2.Key([]byte(password), []byte(salt), iter, len(key), sha256.New)
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	case SchemeArgon2i:
		p, salt, key, _ := parseArgon2i(hash)
		got := argon2.Key([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
		reclaim()
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	}
	return false, fmt.Errorf("%w: %s", ErrMalformedHash, scheme)
}

// checkBcrypt bounds a bcrypt hash's cost: 4 (the least) to 14 (about a
// second here).
func checkBcrypt(hash string) error {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return fmt.Errorf("bcrypt hash: %w", err)
	}
	if cost > 14 {
		return fmt.Errorf("bcrypt hash: cost %d is above 14", cost)
	}
	return nil
}

// maxDjangoIterations is far above Django's current default (1,200,000
// in Django 5.2) and keeps one check under a few seconds.
const maxDjangoIterations = 5_000_000

// parseDjango splits pbkdf2_sha256$iterations$salt$base64(key).
func parseDjango(hash string) (iter int, salt string, key []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2_sha256" {
		return 0, "", nil, errors.New("Django hash: want pbkdf2_sha256$iterations$salt$hash")
	}
	iter, err = strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxDjangoIterations {
		return 0, "", nil, fmt.Errorf("Django hash: iterations %q are not between 1 and %d", parts[1], maxDjangoIterations)
	}
	if parts[2] == "" {
		return 0, "", nil, errors.New("Django hash: empty salt")
	}
	key, err = base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(key) < 16 {
		return 0, "", nil, errors.New("Django hash: the hash is not base64 of at least 16 bytes")
	}
	return iter, parts[2], key, nil
}

// parseArgon2i reads an argon2i PHC string: the argon2id format with
// another name.
func parseArgon2i(hash string) (Params, []byte, []byte, error) {
	rest, ok := strings.CutPrefix(hash, "$argon2i$")
	if !ok {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p, salt, key, err := Parse("$argon2id$" + rest)
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("argon2i hash: %w", err)
	}
	return p, salt, key, nil
}
