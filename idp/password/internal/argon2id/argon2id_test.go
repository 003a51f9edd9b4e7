package argon2id

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestMatchesXCrypto compares Key with x/crypto's argon2.IDKey over the
// shapes a stored hash can have: lanes, passes, memory rounding (below
// the minimum, not a multiple of the segments), key lengths on both
// sides of one BLAKE2b output, and segments longer than one address
// block (128 blocks).
func TestMatchesXCrypto(t *testing.T) {
	cases := []struct {
		passes, kib uint32
		lanes       uint8
		keyLen      uint32
	}{
		{1, 8, 1, 32},
		{1, 7, 1, 32}, // rounded up to the minimum
		{2, 64, 1, 32},
		{3, 33, 2, 16}, // rounded down to whole segments
		{1, 1024, 4, 64},
		{2, 600, 3, 65},
		{4, 256, 1, 100},
		{1, 2048, 1, 4},
		{2, 19456, 1, 32}, // the provider's own parameters
		{1, 8, 16, 32},    // the most lanes a stored hash may have
		{1, 8, 255, 1},    // the most lanes there are, the shortest key
		{1, 64, 1, 1024},  // a key of many BLAKE2b outputs
	}
	r := rand.New(rand.NewPCG(1, 2))
	var mem Memory
	for _, c := range cases {
		name := fmt.Sprintf("t=%d,m=%d,p=%d,len=%d", c.passes, c.kib, c.lanes, c.keyLen)
		t.Run(name, func(t *testing.T) {
			pw, salt := make([]byte, r.IntN(40)), make([]byte, r.IntN(32))
			for _, b := range [][]byte{pw, salt} {
				for i := range b {
					b[i] = byte(r.Uint32())
				}
			}
			want := argon2.IDKey(pw, salt, c.passes, c.kib, c.lanes, c.keyLen)
			if got := Key(nil, pw, salt, c.passes, c.kib, c.lanes, c.keyLen); !bytes.Equal(got, want) {
				t.Fatalf("Key = %x, x/crypto %x", got, want)
			}
			// Kept memory, holding whatever was there before, gives the
			// same key.
			for i := range mem.blocks {
				for w := range mem.blocks[i] {
					mem.blocks[i][w] = 0xa5a5a5a5a5a5a5a5 ^ uint64(i*w)
				}
			}
			if got := Key(&mem, pw, salt, c.passes, c.kib, c.lanes, c.keyLen); !bytes.Equal(got, want) {
				t.Fatalf("Key with kept memory = %x, x/crypto %x", got, want)
			}
		})
	}
}

// TestEmptyPasswordAndSalt: the lengths H0 takes in are there for
// empty inputs too.
func TestEmptyPasswordAndSalt(t *testing.T) {
	for _, in := range [][2][]byte{{nil, nil}, {nil, []byte("somesalt")}, {[]byte("password"), nil}, {{}, {}}} {
		want := argon2.IDKey(in[0], in[1], 1, 64, 1, 32)
		if got := Key(nil, in[0], in[1], 1, 64, 1, 32); !bytes.Equal(got, want) {
			t.Errorf("password %q, salt %q: got %x, want %x", in[0], in[1], got, want)
		}
	}
}

// TestKnownAnswers holds Key to tags of the argon2 reference
// implementation (password "password", salt "somesalt"), independently of
// x/crypto.
func TestKnownAnswers(t *testing.T) {
	for _, v := range []struct {
		passes, kib uint32
		lanes       uint8
		tag         string
	}{
		{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
		{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
		{2, 64, 3, "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079"},
		{3, 1024, 6, "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016"},
		// The reference implementation's own tests, 32-byte keys.
		{2, 1 << 16, 1, "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"},
		{2, 256, 2, "6d093c501fd5999645e0ea3bf620d7b8be7fd2db59c20d9fff9539da2bf57037"},
	} {
		got := hex.EncodeToString(Key(nil, []byte("password"), []byte("somesalt"), v.passes, v.kib, v.lanes, uint32(len(v.tag)/2)))
		if got != v.tag {
			t.Errorf("t=%d m=%d p=%d: got %s, want %s", v.passes, v.kib, v.lanes, got, v.tag)
		}
	}
}

func TestKeptMemoryGrowsAndReleases(t *testing.T) {
	var mem Memory
	Key(&mem, []byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
	if mem.Size() != 64<<10 {
		t.Fatalf("Size = %d after a 64 KiB hash", mem.Size())
	}
	Key(&mem, []byte("pw"), []byte("saltsalt"), 1, 32, 1, 32)
	if mem.Size() != 64<<10 {
		t.Fatalf("Size = %d after a smaller hash: kept memory should be reused, not shrunk", mem.Size())
	}
	mem.Release()
	if mem.Size() != 0 {
		t.Fatalf("Size = %d after Release", mem.Size())
	}
}

func TestZeroPassesLanesOrKeyPanic(t *testing.T) {
	for _, c := range []struct {
		passes uint32
		lanes  uint8
		keyLen uint32
	}{{0, 1, 32}, {1, 0, 32}, {1, 1, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("passes=%d lanes=%d keyLen=%d: no panic", c.passes, c.lanes, c.keyLen)
				}
			}()
			Key(nil, nil, nil, c.passes, 64, c.lanes, c.keyLen)
		}()
	}
}

// BenchmarkKey is a hash at the provider's parameters into kept memory,
// against x/crypto's, which allocates its 19 MiB every time.
func BenchmarkKey(b *testing.B) {
	pw, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	b.Run("kept", func(b *testing.B) {
		var mem Memory
		for b.Loop() {
			Key(&mem, pw, salt, 2, 19456, 1, 32)
		}
	})
	b.Run("x-crypto", func(b *testing.B) {
		for b.Loop() {
			argon2.IDKey(pw, salt, 2, 19456, 1, 32)
		}
	})
}
