package account

import (
	"testing"

	"github.com/communityidp/idp/idp/store"
)

func TestResilienceOf(t *testing.T) {
	icloud := []byte("iCloud-Keychain!")
	google := []byte("Google-Password!")
	zero := make([]byte, 16)
	pk := func(id string, synced bool, aaguid []byte) store.Passkey {
		return store.Passkey{ID: id, BackupEligible: synced, BackupState: synced, AAGUID: aaguid}
	}
	for _, c := range []struct {
		name string
		pks  []store.Passkey
		want Resilience
	}{
		{"none", nil, Spread},
		{"one security key", []store.Passkey{pk("a", false, zero)}, OneDevice},
		{"two security keys", []store.Passkey{pk("a", false, zero), pk("b", false, zero)}, Spread},
		{"one synced", []store.Passkey{pk("a", true, icloud)}, OneProvider},
		{"two in one manager", []store.Passkey{pk("a", true, icloud), pk("b", true, icloud)}, OneProvider},
		{"two managers", []store.Passkey{pk("a", true, icloud), pk("b", true, google)}, Spread},
		{"synced and a key", []store.Passkey{pk("a", true, icloud), pk("b", false, zero)}, Spread},
		{"synced, maker unknown", []store.Passkey{pk("a", true, zero)}, Spread},
	} {
		if got := ResilienceOf(c.pks); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	a, b := passkeySet([]store.Passkey{pk("a", true, icloud), pk("b", true, icloud)}), passkeySet([]store.Passkey{pk("b", true, icloud), pk("a", true, icloud)})
	if a != b || a == passkeySet([]store.Passkey{pk("a", true, icloud)}) {
		t.Errorf("passkey sets: %s %s", a, b)
	}
}
