package password

import "testing"

// BenchmarkVerify is one member password check at the OWASP parameters:
// the whole cost of a password sign-in's cryptography, by design.
func BenchmarkVerify(b *testing.B) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, _ := Verify(h, "correct horse battery staple"); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkVerifyParallel runs checks from 8 goroutines: the slots keep
// them to one per core, so throughput is cores / cost and memory stays at
// 19 MiB per core.
func BenchmarkVerifyParallel(b *testing.B) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, _ := Verify(h, "correct horse battery staple"); !ok {
				b.Error("no match")
				return
			}
		}
	})
}
