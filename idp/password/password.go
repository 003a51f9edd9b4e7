// Package password hashes and checks member passwords with argon2id
// (OWASP parameters: 19 MiB, 2 passes, 1 lane) stored as PHC strings, and
// holds the password policy. A verification costs 20-50 ms by design;
// it belongs to member sign-in only, never to a per-request hot path.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/password/internal/argon2id"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// DefaultParams are the OWASP Password Storage Cheat Sheet minimums for
// argon2id: m=19456 KiB, t=2, p=1.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

var b64 = base64.RawStdEncoding

// memoryHeadroom is what the provider needs besides the slots' memory:
// the runtime's own (about 12 MiB: collector metadata, stacks, free
// spans not yet returned), what is live besides (about 3 MiB under 32
// concurrent password sign-ins) and the garbage between two collections.
// The hashes' memory is pointer-free, so a collection costs only what
// else is live (2-3 ms here): at 16 MiB one runs every 45 ms under that
// load, 5% of the CPU; at 12 MiB collections ran back to back and
// password sign-ins slowed by a third (BENCHMARKS.md). Slots keep their
// memory only through a burst (idleAfter), so other work does not live
// with that squeeze.
const memoryHeadroom = 16 << 20

// MemoryLimit is a soft limit for the Go runtime derived from the hashing
// slots: the memory they keep, plus headroom. A process that needs more
// than the limit only collects more often; it is never stopped.
func MemoryLimit() int64 {
	return int64(slots.size())*int64(DefaultParams.Memory)<<10 + memoryHeadroom
}

// idKey is argon2id in a slot, in the slot's memory. A hash that needs
// more memory than the current parameters (a stronger imported one) gets
// its own for the one hash, collected at once after it.
func idKey(password, salt []byte, p Params, keyLen uint32) []byte {
	s := slots.take()
	defer slots.give(s)
	if p.Memory > DefaultParams.Memory {
		key := argon2id.Key(nil, password, salt, p.Time, p.Memory, p.Threads, keyLen)
		reclaim()
		return key
	}
	return argon2id.Key(&s.mem, password, salt, p.Time, p.Memory, p.Threads, keyLen)
}

// reclaimMu lets one collection run at a time: two hashes finishing
// together need one collection each, not two at once.
var reclaimMu sync.Mutex

// reclaim collects the memory of a hash that could not use its slot's
// (an imported hash of more memory, or argon2i), before the slot is freed:
// left to the collector's pace, a burst of them would grow the heap by
// that much per hash.
func reclaim() {
	reclaimMu.Lock()
	defer reclaimMu.Unlock()
	runtime.GC()
}

// ErrMalformedHash is returned for a string that is not an argon2id PHC hash.
var ErrMalformedHash = errors.New("not an argon2id hash")

// Hash returns the PHC string of password under DefaultParams.
func Hash(password string) (string, error) { return HashWith(password, DefaultParams) }

// HashWith returns the PHC string of password under p.
func HashWith(password string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate salt: %w", err)
	}
	return phc(p, salt, idKey([]byte(password), salt, p, p.KeyLen)), nil
}

// phc formats a hash as a PHC string.
func phc(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches the hash, and whether the hash
// should be recomputed: its parameters are weaker than the current ones,
// or it is an imported hash of another format (see SchemeOf).
func Verify(hash, password string) (ok, needsRehash bool, err error) {
	if !strings.HasPrefix(hash, "$argon2id$") {
		ok, err := verifyLegacy(hash, password)
		return ok, true, err
	}
	p, salt, key, err := Parse(hash)
	if err != nil {
		return false, false, err
	}
	got := idKey([]byte(password), salt, p, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	needsRehash = p.Memory < DefaultParams.Memory || p.Time < DefaultParams.Time || p.Threads < DefaultParams.Threads
	return ok, needsRehash, nil
}

// dummyHash is verified for unknown accounts so that "no such user" costs
// the same time as "wrong password". It has the current parameters and a
// random salt and key: no password matches it, and building it costs no
// hashing (a hash at start-up would add tens of milliseconds and 19 MiB
// to every start).
var dummyHash = func() string {
	salt, key := make([]byte, DefaultParams.SaltLen), make([]byte, DefaultParams.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	return phc(DefaultParams, salt, key)
}()

// VerifyDummy spends the time of one verification and always fails.
func VerifyDummy(password string) {
	_, _, _ = Verify(dummyHash, password)
}

// Parse splits a PHC argon2id string into its parameters, salt and key.
func Parse(hash string) (Params, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2id.Version) {
		return Params{}, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return Params{}, nil, nil, fmt.Errorf("%w: bad parameter %q", ErrMalformedHash, kv)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, fmt.Errorf("%w: bad parameter %q", ErrMalformedHash, kv)
			}
			p.Threads = uint8(n)
		default:
			return Params{}, nil, nil, fmt.Errorf("%w: unknown parameter %q", ErrMalformedHash, k)
		}
	}
	// Refuse parameters that would make one verification a denial of service.
	if p.Memory < 1024 || p.Memory > 1<<22 || p.Time < 1 || p.Time > 16 || p.Threads < 1 || p.Threads > 16 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters out of range", ErrMalformedHash)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return Params{}, nil, nil, fmt.Errorf("%w: bad key", ErrMalformedHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// MaxLength is the longest password accepted, in characters. It is far
// above what people use and keeps a request from feeding megabytes to the
// hash; passwords are never truncated.
const MaxLength = 1024

// PolicyError explains why a new password is refused, in words for
// members: Key is the message (ui/locales) and Args its arguments; Reason
// is the English text.
type PolicyError struct {
	Reason string
	Key    string
	Args   []any
}

func (e *PolicyError) Error() string { return e.Reason }

// MessageKey is the message that says the error in a member's language.
func (e *PolicyError) MessageKey() (string, []any) { return e.Key, e.Args }

func policyError(key string, args ...any) *PolicyError {
	return &PolicyError{Reason: i18n.English().T(key, args...), Key: key, Args: args}
}

// CheckPolicy validates a new password: at least minLength characters, at
// most MaxLength, valid text, not one of the most common passwords and not
// one of avoid (the member's username or email, the site name). There are
// no composition rules (NIST SP 800-63B).
func CheckPolicy(password string, minLength int, avoid ...string) error {
	if !utf8.ValidString(password) {
		return policyError("password.policy.invalid_text")
	}
	n := utf8.RuneCountInString(password)
	if n < minLength {
		return policyError("password.policy.too_short", minLength)
	}
	if n > MaxLength {
		return policyError("password.policy.too_long", MaxLength)
	}
	if strings.TrimSpace(password) == "" {
		return policyError("password.policy.spaces")
	}
	if IsCommon(password) {
		return policyError("password.policy.common")
	}
	for _, a := range avoid {
		if a = strings.TrimSpace(a); a != "" && strings.EqualFold(strings.TrimSpace(password), a) {
			return policyError("password.policy.personal")
		}
	}
	return nil
}
