package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/invite"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/memberimport"
	"github.com/communityidp/idp/idp/outbox"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/server"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
)

// sendTimeout bounds how long a command waits to hand its mail to the
// SMTP server; what is not sent by then, the provider's own sender
// retries from the outbox.
const sendTimeout = 30 * time.Second

// mailer is the mail a command sends, and the sender that sends it now.
type mailer struct {
	svc    *mail.Service
	worker *outbox.Worker
}

func newMailer(cfg config.Config, st *secrets.Store) (*mailer, error) {
	svc, worker, err := server.NewCommandMail(cfg, st)
	if err != nil {
		return nil, err
	}
	return &mailer{svc: svc, worker: worker}, nil
}

// send hands what the command queued to the SMTP server.
func (m *mailer) send(ctx context.Context) {
	if m.worker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	m.worker.Drain(ctx)
}

func (m *mailer) inviter(cfg config.Config, st store.Store) *invite.Inviter {
	return &invite.Inviter{Store: st, Mail: m.svc, Lifetime: cfg.Registration.InvitationLifetime.D(), Now: time.Now}
}

func usersInvite(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("users invite")
	cfgPath := c.configFlag(fs)
	email := fs.String("email", "", "the address the invitation goes to (required)")
	username := fs.String("username", "", "the account's username (default: from the address)")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "give the account the admin role")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"--email is required"}
	}
	cfg, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := newMailer(cfg, st)
	if err != nil {
		return err
	}
	role := store.RoleMember
	if *admin {
		role = store.RoleAdmin
	}
	u, err := m.inviter(cfg, st).Invite(ctx, invite.Input{Email: *email, Username: *username, Name: *name, Role: role}, "")
	var fe *users.FieldError
	switch {
	case errors.Is(err, invite.ErrNoMail):
		return err
	case errors.As(err, &fe):
		return fmt.Errorf("--%s: %s", fe.Field, fe.Reason)
	case err != nil:
		return fmt.Errorf("invite: %w", err)
	}
	recordCLIUser(ctx, st, audit.InviteCreated, u.ID, map[string]string{"role": string(u.Role)})
	m.send(ctx)
	fmt.Fprintf(c.stdout, "invited %q (%s) as %s; the link works for %s\n", u.Username, u.Email, u.Role,
		cfg.Registration.InvitationLifetime.D())
	return nil
}

func usersImport(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("users import")
	cfgPath := c.configFlag(fs)
	file := fs.String("file", "", "the members to import: CSV with the header "+strings.Join(memberimport.Columns, ",")+
		", or JSON lines with the same keys (required)")
	format := fs.String("format", "", "csv or jsonl (default: from the file name, else csv)")
	dryRun := fs.Bool("dry-run", false, "check every row and say what would change, without writing")
	noInvite := fs.Bool("no-invite", false, "do not mail an invitation to members imported without a password")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{"--file is required"}
	}
	f := memberimport.Format(strings.ToLower(*format))
	if f == "" {
		f = memberimport.CSV
		if strings.HasSuffix(*file, ".jsonl") || strings.HasSuffix(*file, ".ndjson") {
			f = memberimport.JSONL
		}
	}
	if f != memberimport.CSV && f != memberimport.JSONL {
		return usageError{fmt.Sprintf("--format: %q is not csv or jsonl", *format)}
	}
	in, err := os.Open(*file)
	if err != nil {
		return fmt.Errorf("--file: %w", err)
	}
	defer in.Close()
	now := time.Now()
	rows, err := memberimport.Read(in, f, now)
	if err != nil {
		return fmt.Errorf("--file %s: %w", *file, err)
	}
	cfg, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	prog := newProgress(c.stderr, "imported", "members")
	res, err := memberimport.Import(ctx, st, rows, *dryRun, now, prog.add)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	for _, r := range res.Failed {
		fmt.Fprintf(c.stderr, "%s:%d: %v\n", *file, r.Line, r.Err)
	}
	verb := map[bool]string{true: "would be ", false: ""}[*dryRun]
	fmt.Fprintf(c.stdout, "%d %screated, %d %supdated, %d unchanged, %d failed\n",
		res.Created, verb, res.Updated, verb, res.Unchanged, len(res.Failed))
	if !*dryRun {
		recordCLI(ctx, st, audit.UsersImported, map[string]string{"created": fmt.Sprint(res.Created),
			"updated": fmt.Sprint(res.Updated), "unchanged": fmt.Sprint(res.Unchanged), "failed": fmt.Sprint(len(res.Failed))})
		if err := c.inviteImported(ctx, cfg, st, res.NoPassword, *noInvite); err != nil {
			return err
		}
	}
	if len(res.Failed) > 0 {
		return fmt.Errorf("%d of %d rows failed: fix them and run the import again (imported rows stay as they are)",
			len(res.Failed), len(rows))
	}
	return nil
}

// inviteImported mails an invitation to each member imported without a
// password: without it they could not sign in.
func (c *cli) inviteImported(ctx context.Context, cfg config.Config, st *secrets.Store, list []*store.User, skip bool) error {
	if len(list) == 0 {
		return nil
	}
	if skip {
		fmt.Fprintf(c.stdout, "%d members have no password: invite them (idp users invite) or let them use \"Forgot password?\"\n", len(list))
		return nil
	}
	m, err := newMailer(cfg, st)
	if err != nil {
		return err
	}
	if !m.svc.Enabled() {
		fmt.Fprintf(c.stdout, "%d members have no password and email is off: give each a recovery link in the admin console\n", len(list))
		return nil
	}
	inv, failed := m.inviter(cfg, st), 0
	for _, u := range list {
		if _, err := inv.Invite(ctx, invite.Input{Email: u.Email}, ""); err != nil {
			failed++
			fmt.Fprintf(c.stderr, "invitation to %s not queued: %v\n", u.Username, err)
		}
	}
	m.send(ctx)
	fmt.Fprintf(c.stdout, "%d invitations mailed to members without a password\n", len(list)-failed)
	if failed > 0 {
		return fmt.Errorf("%d invitations were not queued: invite those members with idp users invite", failed)
	}
	return nil
}
