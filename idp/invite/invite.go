// Package invite brings new members in by invitation: an account without
// a password, and a mail whose link (single use, a week by default) lets
// the member choose one and add a passkey. The admin console, its CSV
// upload and `idp users invite` all invite through here.
package invite

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
)

// ErrNoMail is returned when mail is off: an invitation is a mail.
var ErrNoMail = errors.New("email is not configured: an invitation is sent by mail (email.from, email.smtp)")

// Inviter invites members.
// Store is what invitations need: members and their links.
type Store interface {
	store.UserStore
	store.RecoveryStore
}

type Inviter struct {
	Store    Store
	Mail     *mail.Service
	Lifetime time.Duration
	Now      func() time.Time
}

// Input is one member to invite. Username may be empty: one is made from
// the address.
type Input struct {
	Email, Username, Name string
	Role                  store.Role
}

// Invite creates the account (unless an earlier invitation to the same
// address is still unanswered: that one is sent again) and mails the
// invitation. by is the inviting admin's ID ("" from the command line).
func (i *Inviter) Invite(ctx context.Context, in Input, by string) (*store.User, error) {
	if !i.Mail.Enabled() {
		return nil, ErrNoMail
	}
	email := users.NormalizeEmail(in.Email)
	if err := users.ValidateEmail(email); err != nil {
		return nil, err
	}
	u, err := i.Store.UserByLogin(ctx, email)
	switch {
	case err == nil && u.PasswordHash != "":
		return nil, &users.FieldError{Field: "email", Reason: "already a member", Key: "invite.already_member"}
	case err == nil:
		// Invited before and not yet in: invite again.
	case errors.Is(err, store.ErrNotFound):
		if u, err = i.create(ctx, in, email); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	err = i.Mail.MailLink(ctx, i.Store, u, store.LinkInvite, "", by, i.Lifetime, func(to, link string) (mail.Message, error) {
		return i.Mail.Letters.Invite(i.Mail.For(u), to, u.Username, link, i.Lifetime)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (i *Inviter) create(ctx context.Context, in Input, email string) (*store.User, error) {
	username := users.NormalizeUsername(in.Username)
	taken := func(name string) bool {
		_, err := i.Store.UserByLogin(ctx, name)
		return err == nil
	}
	if username == "" {
		username = fromEmail(email, taken)
	}
	u, err := users.New(users.Input{Username: username, Email: email, Name: in.Name, Role: in.Role}, i.Now())
	if err != nil {
		return nil, err
	}
	if err := i.Store.CreateUser(ctx, u); err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			key := map[string]string{"username": "invite.taken_username", "email": "invite.taken_email"}[ce.Field]
			return nil, &users.FieldError{Field: ce.Field, Reason: ce.Field + " is taken", Key: key}
		}
		return nil, err
	}
	return u, nil
}

// fromEmail makes a free username from an address's local part.
func fromEmail(email string, taken func(string) bool) string {
	local, _, _ := strings.Cut(email, "@")
	var b strings.Builder
	for _, r := range strings.ToLower(local) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		case r == '+':
			return finish(b.String(), taken) // drop a "+tag"
		}
	}
	return finish(b.String(), taken)
}

func finish(base string, taken func(string) bool) string {
	for len(base) < 2 {
		base += "member"
	}
	if len(base) > 56 {
		base = base[:56]
	}
	name := base
	for n := 2; taken(name); n++ {
		name = fmt.Sprintf("%s%d", base, n)
	}
	return name
}

// Row is one line of an invitation CSV and what became of it.
type Row struct {
	Line     int
	Email    string
	Username string
	Err      error
}

// CSV invites everyone a CSV lists: a header naming the columns email
// (required), username, name and role (member or admin), then a member a
// line. Each line is invited on its own; the result says what became of
// each, with its line number (the header is line 1).
func (i *Inviter) CSV(ctx context.Context, r io.Reader, by string) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", err)
	}
	col := map[string]int{}
	for j, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = j
	}
	if _, ok := col["email"]; !ok {
		return nil, errors.New("line 1: the header has no email column (email,username,name,role)")
	}
	get := func(rec []string, name string) string {
		if j, ok := col[name]; ok && j < len(rec) {
			return strings.TrimSpace(rec[j])
		}
		return ""
	}
	var out []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			out = append(out, Row{Line: line, Err: err})
			continue
		}
		row := Row{Line: line, Email: get(rec, "email"), Username: get(rec, "username")}
		role := store.Role(strings.ToLower(get(rec, "role")))
		if role == "" {
			role = store.RoleMember
		}
		if !role.Valid() {
			row.Err = fmt.Errorf("role %q is not member or admin", role)
		} else {
			var u *store.User
			if u, row.Err = i.Invite(ctx, Input{Email: row.Email, Username: row.Username, Name: get(rec, "name"), Role: role}, by); row.Err == nil {
				row.Username = u.Username
			}
		}
		out = append(out, row)
	}
}
