// Package argon2id derives argon2id keys (RFC 9106, version 0x13) into
// memory the caller may keep between hashes.
//
// golang.org/x/crypto/argon2 allocates its memory (19 MiB at the OWASP
// parameters) anew for every hash and cannot be given any. A provider
// hashing a password per sign-in then either lets garbage pile up by
// tens of megabytes or collects after every hash, which costs a tenth of
// its password throughput. Here the caller holds a Memory per hashing
// slot, and a hash writes into it: no allocation, no collection, the same
// resident memory under any load. The output is that of x/crypto's
// argon2.IDKey, byte for byte (the tests compare them).
package argon2id

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/crypto/blake2b"
)

// Version is the argon2 version this package computes, as a PHC string
// names it (v=19).
const Version = 0x13

const (
	argon2id   = 2   // the type, y in RFC 9106
	slices     = 4   // synchronisation points per pass, SL
	blockWords = 128 // a block is 1 KiB: 128 words of 64 bits
)

type block [blockWords]uint64

// Memory is the blocks of a hash, kept for the next one. The zero value
// is ready; a Memory must not be used by two hashes at once.
type Memory struct{ blocks []block }

// take returns n blocks, from m when it has (or can keep) them. Their
// contents need no clearing: the first pass overwrites every block before
// anything reads it (only later passes xor into them).
func (m *Memory) take(n uint32) []block {
	if m == nil {
		return make([]block, n)
	}
	if uint32(cap(m.blocks)) < n {
		m.blocks = make([]block, n)
	}
	return m.blocks[:n]
}

// Size is how many bytes m holds.
func (m *Memory) Size() int { return cap(m.blocks) * blockWords * 8 }

// Release lets the collector have m's blocks. They are not wiped, as
// x/crypto's garbage was not.
func (m *Memory) Release() { m.blocks = nil }

// Key derives keyLen bytes from password and salt with argon2id: passes
// over kib KiB of memory in lanes lanes. mem holds the memory and may be
// nil (the blocks are then allocated for this hash alone). It panics if
// passes, lanes or keyLen is zero, as x/crypto's argon2 does. Lanes are
// computed one after another on the caller's goroutine (x/crypto gives
// each its own): a hash of p lanes takes p times one lane's time, on one
// core.
func Key(mem *Memory, password, salt []byte, passes, kib uint32, lanes uint8, keyLen uint32) []byte {
	if passes < 1 {
		panic("argon2id: the number of passes must be at least 1")
	}
	if lanes < 1 {
		panic("argon2id: the number of lanes must be at least 1")
	}
	if keyLen < 1 {
		panic("argon2id: the key must be at least 1 byte long")
	}
	p := uint32(lanes)
	h0 := initialHash(password, salt, passes, kib, p, keyLen)
	// The memory is a whole number of segments in every lane, at least
	// two blocks per segment (RFC 9106 section 3.2; x/crypto rounds so).
	n := kib / (slices * p) * (slices * p)
	if n < 2*slices*p {
		n = 2 * slices * p
	}
	a := arena{blocks: mem.take(n), n: n, lanes: p, laneLen: n / p, segLen: n / p / slices, passes: passes}
	a.first(&h0)
	for pass := range passes {
		for slice := range uint32(slices) {
			for lane := range p {
				a.segment(pass, slice, lane)
			}
		}
	}
	return a.tag(keyLen)
}

// initialHash is H0 (RFC 9106 section 3.2), with room after it for the
// two words that make each lane's first blocks.
func initialHash(password, salt []byte, passes, kib, lanes, keyLen uint32) [blake2b.Size + 8]byte {
	h, _ := blake2b.New512(nil)
	var le [4]byte
	word := func(v uint32) {
		binary.LittleEndian.PutUint32(le[:], v)
		h.Write(le[:])
	}
	word(lanes)
	word(keyLen)
	word(kib)
	word(passes)
	word(Version)
	word(argon2id)
	word(uint32(len(password)))
	h.Write(password)
	word(uint32(len(salt)))
	h.Write(salt)
	word(0) // no secret
	word(0) // no associated data
	var h0 [blake2b.Size + 8]byte
	h.Sum(h0[:0])
	return h0
}

// arena is one hash's memory and its shape.
type arena struct {
	blocks                            []block
	n, lanes, laneLen, segLen, passes uint32
}

// first computes the first two blocks of every lane from H0.
func (a *arena) first(h0 *[blake2b.Size + 8]byte) {
	var buf [1024]byte
	for lane := range a.lanes {
		binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)
		for i := range uint32(2) {
			binary.LittleEndian.PutUint32(h0[blake2b.Size:], i)
			longHash(buf[:], h0[:])
			b := &a.blocks[lane*a.laneLen+i]
			for w := range b {
				b[w] = binary.LittleEndian.Uint64(buf[8*w:])
			}
		}
	}
}

// segment fills one lane's segment of a slice in a pass. argon2id picks
// the blocks it mixes in independently of the password in the first half
// of the first pass (from a counter, as argon2i does: no timing or cache
// trace of the password there) and from the previous block afterwards
// (as argon2d does, against trade-off attacks).
func (a *arena) segment(pass, slice, lane uint32) {
	independent := pass == 0 && slice < slices/2
	var counter, addresses, zero block
	if independent {
		counter[0], counter[1], counter[2] = uint64(pass), uint64(lane), uint64(slice)
		counter[3], counter[4], counter[5] = uint64(a.n), uint64(a.passes), argon2id
	}
	start := uint32(0)
	if pass == 0 && slice == 0 {
		start = 2 // the first two blocks came from H0
	}
	base := lane*a.laneLen + slice*a.segLen
	for i := start; i < a.segLen; i++ {
		cur := base + i
		prev := cur - 1
		if slice == 0 && i == 0 {
			prev = lane*a.laneLen + a.laneLen - 1 // a lane wraps around
		}
		var rnd uint64
		if independent {
			if i%blockWords == 0 || i == start {
				counter[6]++
				compress(&addresses, &zero, &counter, false)
				compress(&addresses, &zero, &addresses, false)
			}
			rnd = addresses[i%blockWords]
		} else {
			rnd = a.blocks[prev][0]
		}
		ref := a.reference(rnd, pass, slice, lane, i)
		compress(&a.blocks[cur], &a.blocks[prev], &a.blocks[ref], pass > 0)
	}
}

// reference maps a pseudo-random word to the block that block i of a
// segment mixes in (RFC 9106 section 3.4.1.2): its high half picks the
// lane, its low half a block of that lane's reference set, biased towards
// the most recent ones.
func (a *arena) reference(rnd uint64, pass, slice, lane, i uint32) uint32 {
	refLane := uint32(rnd>>32) % a.lanes
	if pass == 0 && slice == 0 {
		refLane = lane
	}
	// The reference set: in the first pass the lane's finished
	// segments; afterwards the three segments other than this one,
	// oldest first. In the current lane it also holds this segment's
	// blocks so far, but never the block just before i; for the first
	// block of a segment, the set's last block is left out in every lane.
	size, start := slice*a.segLen, uint32(0)
	if pass > 0 {
		size, start = (slices-1)*a.segLen, (slice+1)%slices*a.segLen
	}
	if refLane == lane {
		size += i
	}
	if refLane == lane || i == 0 {
		size--
	}
	x := uint64(uint32(rnd))
	x = x * x >> 32
	y := uint64(size) * x >> 32
	pos := (uint64(start) + uint64(size) - 1 - y) % uint64(a.laneLen)
	return refLane*a.laneLen + uint32(pos)
}

// tag hashes the xor of the lanes' last blocks into the key.
func (a *arena) tag(keyLen uint32) []byte {
	last := a.blocks[a.laneLen-1]
	for lane := uint32(1); lane < a.lanes; lane++ {
		b := &a.blocks[lane*a.laneLen+a.laneLen-1]
		for w := range last {
			last[w] ^= b[w]
		}
	}
	var buf [1024]byte
	for w, v := range last {
		binary.LittleEndian.PutUint64(buf[8*w:], v)
	}
	key := make([]byte, keyLen)
	longHash(key, buf[:])
	return key
}

// longHash is H' (RFC 9106 section 3.3): BLAKE2b stretched to len(out)
// bytes.
func longHash(out, in []byte) {
	var prefix [4]byte
	binary.LittleEndian.PutUint32(prefix[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil)
		h.Write(prefix[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	h, _ := blake2b.New512(nil)
	h.Write(prefix[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	// Each intermediate hash gives its first half; the last, sized to
	// what is left (33 to 64 bytes), all of it.
	n := copy(out, v[:blake2b.Size/2])
	for len(out)-n > blake2b.Size {
		v = blake2b.Sum512(v[:])
		n += copy(out[n:], v[:blake2b.Size/2])
	}
	h, _ = blake2b.New(len(out)-n, nil)
	h.Write(v[:])
	h.Sum(out[n:n])
}

// compress is G (RFC 9106 section 3.5): out = P(x^y) ^ x ^ y, with P
// applied to the block's rows and then its columns; with xor (every pass
// after the first, version 0x13) the result is xored into out instead.
// out may be x or y only without xor (the address blocks are made so).
func compress(out, x, y *block, xor bool) {
	// Copied, not declared: a declared block is zeroed first.
	z := *x
	for i := range z {
		z[i] ^= y[i]
	}
	// A row is 16 consecutive words; a column is the word pairs 2j, 2j+1
	// of each row. Both are permuted in place, through pointers.
	for row := range 8 {
		v := (*[16]uint64)(z[16*row:])
		permute(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
			&v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15])
	}
	for col := range 8 {
		v := (*[114]uint64)(z[2*col:])
		permute(&v[0], &v[1], &v[16], &v[17], &v[32], &v[33], &v[48], &v[49],
			&v[64], &v[65], &v[80], &v[81], &v[96], &v[97], &v[112], &v[113])
	}
	// x^y is recomputed rather than kept: a block less on the stack.
	if xor {
		for i := range out {
			out[i] ^= z[i] ^ x[i] ^ y[i]
		}
		return
	}
	for i := range out {
		out[i] = z[i] ^ x[i] ^ y[i]
	}
}

// permute is P: BLAKE2b's round on 16 words, its G (GB in RFC 9106)
// written out eight times, the columns then the diagonals, with BlaMka's
// multiplying additions. Written out: the compiler does not inline a GB
// function, and calling one made the hash about 15% slower.
func permute(p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15 *uint64) {
	v0, v1, v2, v3, v4, v5, v6, v7 := *p0, *p1, *p2, *p3, *p4, *p5, *p6, *p7
	v8, v9, v10, v11, v12, v13, v14, v15 := *p8, *p9, *p10, *p11, *p12, *p13, *p14, *p15
	v0 = fBlaMka(v0, v4)
	v12 = bits.RotateLeft64(v12^v0, -32)
	v8 = fBlaMka(v8, v12)
	v4 = bits.RotateLeft64(v4^v8, -24)
	v0 = fBlaMka(v0, v4)
	v12 = bits.RotateLeft64(v12^v0, -16)
	v8 = fBlaMka(v8, v12)
	v4 = bits.RotateLeft64(v4^v8, -63)
	v1 = fBlaMka(v1, v5)
	v13 = bits.RotateLeft64(v13^v1, -32)
	v9 = fBlaMka(v9, v13)
	v5 = bits.RotateLeft64(v5^v9, -24)
	v1 = fBlaMka(v1, v5)
	v13 = bits.RotateLeft64(v13^v1, -16)
	v9 = fBlaMka(v9, v13)
	v5 = bits.RotateLeft64(v5^v9, -63)
	v2 = fBlaMka(v2, v6)
	v14 = bits.RotateLeft64(v14^v2, -32)
	v10 = fBlaMka(v10, v14)
	v6 = bits.RotateLeft64(v6^v10, -24)
	v2 = fBlaMka(v2, v6)
	v14 = bits.RotateLeft64(v14^v2, -16)
	v10 = fBlaMka(v10, v14)
	v6 = bits.RotateLeft64(v6^v10, -63)
	v3 = fBlaMka(v3, v7)
	v15 = bits.RotateLeft64(v15^v3, -32)
	v11 = fBlaMka(v11, v15)
	v7 = bits.RotateLeft64(v7^v11, -24)
	v3 = fBlaMka(v3, v7)
	v15 = bits.RotateLeft64(v15^v3, -16)
	v11 = fBlaMka(v11, v15)
	v7 = bits.RotateLeft64(v7^v11, -63)
	v0 = fBlaMka(v0, v5)
	v15 = bits.RotateLeft64(v15^v0, -32)
	v10 = fBlaMka(v10, v15)
	v5 = bits.RotateLeft64(v5^v10, -24)
	v0 = fBlaMka(v0, v5)
	v15 = bits.RotateLeft64(v15^v0, -16)
	v10 = fBlaMka(v10, v15)
	v5 = bits.RotateLeft64(v5^v10, -63)
	v1 = fBlaMka(v1, v6)
	v12 = bits.RotateLeft64(v12^v1, -32)
	v11 = fBlaMka(v11, v12)
	v6 = bits.RotateLeft64(v6^v11, -24)
	v1 = fBlaMka(v1, v6)
	v12 = bits.RotateLeft64(v12^v1, -16)
	v11 = fBlaMka(v11, v12)
	v6 = bits.RotateLeft64(v6^v11, -63)
	v2 = fBlaMka(v2, v7)
	v13 = bits.RotateLeft64(v13^v2, -32)
	v8 = fBlaMka(v8, v13)
	v7 = bits.RotateLeft64(v7^v8, -24)
	v2 = fBlaMka(v2, v7)
	v13 = bits.RotateLeft64(v13^v2, -16)
	v8 = fBlaMka(v8, v13)
	v7 = bits.RotateLeft64(v7^v8, -63)
	v3 = fBlaMka(v3, v4)
	v14 = bits.RotateLeft64(v14^v3, -32)
	v9 = fBlaMka(v9, v14)
	v4 = bits.RotateLeft64(v4^v9, -24)
	v3 = fBlaMka(v3, v4)
	v14 = bits.RotateLeft64(v14^v3, -16)
	v9 = fBlaMka(v9, v14)
	v4 = bits.RotateLeft64(v4^v9, -63)
	*p0, *p1, *p2, *p3, *p4, *p5, *p6, *p7 = v0, v1, v2, v3, v4, v5, v6, v7
	*p8, *p9, *p10, *p11, *p12, *p13, *p14, *p15 = v8, v9, v10, v11, v12, v13, v14, v15
}

// fBlaMka is BlaMka's addition: a + b + 2ab over the low 32 bits of a
// and b.
func fBlaMka(a, b uint64) uint64 {
	return a + b + 2*uint64(uint32(a))*uint64(uint32(b))
}
