package users

import (
	"errors"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	u, err := New(Input{Username: " Alice ", Email: "Alice@Example.ORG", Name: " Alice A "}, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice" || u.Email != "alice@example.org" || u.Name != "Alice A" || u.Role != "member" {
		t.Fatalf("normalised: %+v", u)
	}
	if len(u.WebAuthnID) != 64 || len(u.ID) != 22 {
		t.Fatalf("id %q handle %d bytes", u.ID, len(u.WebAuthnID))
	}
	v, _ := New(Input{Username: "bob", Email: "bob@example.org"}, time.Unix(1, 0))
	if v.ID == u.ID || string(v.WebAuthnID) == string(u.WebAuthnID) {
		t.Fatal("ids repeat")
	}
}

func TestValidation(t *testing.T) {
	bad := []struct {
		in    Input
		field string
	}{
		{Input{Username: "a", Email: "a@example.org"}, "username"},
		{Input{Username: "al ice", Email: "a@example.org"}, "username"},
		{Input{Username: "al@ice", Email: "a@example.org"}, "username"},
		{Input{Username: "alice", Email: "not-an-email"}, "email"},
		{Input{Username: "alice", Email: "Alice <a@example.org>"}, "email"},
		{Input{Username: "alice", Email: "a@localhost"}, "email"},
		{Input{Username: "alice", Email: "a@example.org", Name: "two\nlines"}, "name"},
		{Input{Username: "alice", Email: "a@example.org", Role: "root"}, "role"},
	}
	for _, c := range bad {
		_, err := New(c.in, time.Unix(1, 0))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("New(%+v) = %v, want a %s error", c.in, err, c.field)
		}
	}
}
