package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
)

const usersUsage = `usage:
  idp users add --username U --email E [--name N] [--admin] --password-stdin
  idp users list [--json]
  idp users set-password --username U --password-stdin
  idp users disable --username U
  idp users enable --username U
  idp users invite --email E [--username U] [--name N] [--admin]
  idp users import --file F [--format csv|jsonl] [--dry-run] [--no-invite]`

func usersCmd(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return usageError{usersUsage}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add":
		return usersAdd(ctx, c, args)
	case "list":
		return usersList(ctx, c, args)
	case "set-password":
		return usersSetPassword(ctx, c, args)
	case "disable", "enable":
		return usersSetDisabled(ctx, c, args, sub == "disable")
	case "invite":
		return usersInvite(ctx, c, args)
	case "import":
		return usersImport(ctx, c, args)
	}
	return usageError{fmt.Sprintf("unknown subcommand %q\n%s", sub, usersUsage)}
}

// readPassword reads the password piped on standard input.
// avoid are words the password must not be (username, email, site name).
func (c *cli) readPassword(minLength int, avoid ...string) (string, error) {
	raw, err := io.ReadAll(io.LimitReader(c.stdin, 4*password.MaxLength+2))
	if err != nil {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := trimNewline(string(raw))
	if err := password.CheckPolicy(pw, minLength, avoid...); err != nil {
		return "", fmt.Errorf("password (standard input): %w", err)
	}
	return password.Hash(pw)
}

func usersAdd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("users add")
	cfgPath := c.configFlag(fs)
	username := fs.String("username", "", "the account's username (required)")
	email := fs.String("email", "", "the account's email address (required)")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "give the account the admin role")
	verified := fs.Bool("email-verified", false, "mark the email address as verified")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	switch {
	case *username == "":
		return usageError{"--username is required"}
	case *email == "":
		return usageError{"--email is required"}
	case !*fromStdin:
		return usageError{"--password-stdin is required: pipe the password in, e.g. `printf '%s' \"$PW\" | idp users add ...`"}
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	hash, err := c.readPassword(cfg.Password.MinLength, *username, *email, cfg.Branding.SiteName)
	if err != nil {
		return err
	}
	role := store.RoleMember
	if *admin {
		role = store.RoleAdmin
	}
	u, err := users.New(users.Input{Username: *username, Email: *email, Name: *name, Role: role,
		EmailVerified: *verified, PasswordHash: hash}, time.Now())
	var fe *users.FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %s", fe.Field, fe.Reason)
	}
	if err != nil {
		return err
	}
	_, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	err = st.CreateUser(ctx, u)
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		value := u.Username
		if ce.Field == "email" {
			value = u.Email
		}
		return fmt.Errorf("--%s: %q is already used by another account", ce.Field, value)
	}
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	recordCLIUser(ctx, st, audit.UserCreated, u.ID, map[string]string{"role": string(u.Role)})
	fmt.Fprintf(c.stdout, "created %s %q (%s)\n", u.Role, u.Username, u.Email)
	return nil
}

func usersList(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("users list")
	cfgPath := c.configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	_, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, u := range list {
			if err := enc.Encode(map[string]any{
				"id": u.ID, "username": u.Username, "email": u.Email, "name": u.Name, "role": u.Role,
				"disabled": u.Disabled, "created_at": u.CreatedAt.UTC(),
			}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tNAME\tROLE\tSTATUS\tCREATED")
	for _, u := range list {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, u.Name, u.Role, status, u.CreatedAt.UTC().Format("2006-01-02"))
	}
	return tw.Flush()
}

// loginArg is --username, or else the one positional argument.
func loginArg(fs *flag.FlagSet, username string) (string, error) {
	if username == "" && fs.NArg() == 1 {
		username = fs.Arg(0)
	}
	if username == "" {
		return "", usageError{"--username is required"}
	}
	return username, nil
}

// endAccess signs the account out everywhere: sessions and tokens.
func endAccess(ctx context.Context, st store.Store, userID string) error {
	if err := st.DeleteUserSessions(ctx, userID, ""); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if err := st.RevokeUserTokens(ctx, userID, time.Now()); err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	return nil
}

func findUser(ctx context.Context, st store.Store, login string) (*store.User, error) {
	u, err := st.UserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("--username: no account %q", login)
	}
	return u, err
}

func usersSetPassword(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("users set-password")
	cfgPath := c.configFlag(fs)
	username := fs.String("username", "", "the account's username or email (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the new password from standard input (required)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	login, err := loginArg(fs, *username)
	if err != nil {
		return err
	}
	if !*fromStdin {
		return usageError{"--password-stdin is required"}
	}
	cfg, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, login)
	if err != nil {
		return err
	}
	hash, err := c.readPassword(cfg.Password.MinLength, u.Username, u.Email, cfg.Branding.SiteName)
	if err != nil {
		return err
	}
	now := time.Now()
	if _, err := st.UpdateUser(ctx, u.ID, func(u *store.User) error {
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
		return nil
	}); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := endAccess(ctx, st, u.ID); err != nil {
		return err
	}
	recordCLIUser(ctx, st, audit.PasswordChanged, u.ID, nil)
	c.notify(ctx, cfg, st, u, config.NoticePasswordChanged)
	fmt.Fprintf(c.stdout, "password of %q changed; its sessions and tokens were ended\n", u.Username)
	return nil
}

func usersSetDisabled(ctx context.Context, c *cli, args []string, disable bool) error {
	verb := "enable"
	if disable {
		verb = "disable"
	}
	fs := c.flags("users " + verb)
	cfgPath := c.configFlag(fs)
	username := fs.String("username", "", "the account's username or email (required)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	login, err := loginArg(fs, *username)
	if err != nil {
		return err
	}
	cfg, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, login)
	if err != nil {
		return err
	}
	if _, err := st.UpdateUser(ctx, u.ID, func(u *store.User) error {
		u.Disabled, u.UpdatedAt = disable, time.Now()
		return nil
	}); err != nil {
		return fmt.Errorf("%s account: %w", verb, err)
	}
	notice, kind := config.NoticeAccountEnabled, audit.UserEnabled
	if disable {
		kind = audit.UserDisabled
		if err := endAccess(ctx, st, u.ID); err != nil {
			return err
		}
		notice = config.NoticeAccountDisabled
	}
	recordCLIUser(ctx, st, kind, u.ID, nil)
	c.notify(ctx, cfg, st, u, notice)
	if disable {
		fmt.Fprintf(c.stdout, "disabled %q; its sessions and tokens were ended\n", u.Username)
		return nil
	}
	fmt.Fprintf(c.stdout, "enabled %q\n", u.Username)
	return nil
}

// notify mails u the security notice of kind, when mail is on: a change
// made from the command line is told like one made in the console.
func (c *cli) notify(ctx context.Context, cfg config.Config, st *secrets.Store, u *store.User, kind string) {
	m, err := newMailer(cfg, st)
	if err != nil {
		fmt.Fprintf(c.stderr, "no notice mailed: %v\n", err)
		return
	}
	m.svc.Notify(ctx, u, "", kind, "")
	m.send(ctx)
}
