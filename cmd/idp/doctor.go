package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/communityidp/idp/idp/doctor"
	"github.com/communityidp/idp/idp/server"
)

// doctorCmd checks a running deployment from the outside; --synthetic
// also signs the test account in end to end.
func doctorCmd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("doctor")
	cfgPath := c.configFlag(fs)
	synthetic := fs.Bool("synthetic", false, "also sign the doctor test account in, with its password and a software passkey")
	statePath := fs.String("state", "", "keep the software passkey in this `FILE` instead of the database")
	noDB := fs.Bool("no-database", false, "do not open the database (checks from another machine)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	opts := doctor.Options{}
	var state doctor.State
	if !*noDB {
		st, err := server.OpenStore(ctx, cfg)
		if err != nil {
			fmt.Fprintf(c.stdout, "FAIL  database: %v\n      fix: check database.dsn and that the database runs\n", err)
		} else {
			defer st.Close()
			opts.Store = st
			state = server.SecretState{Store: st}
		}
	}
	if *statePath != "" {
		state = fileState(*statePath)
	}
	problems := 0
	for _, f := range doctor.Check(ctx, cfg, opts) {
		if f.OK {
			fmt.Fprintf(c.stdout, "ok    %s\n", f.Check)
			continue
		}
		if f.Note {
			fmt.Fprintf(c.stdout, "note  %s: %s\n      to change: %s\n", f.Check, f.Problem, f.Fix)
			continue
		}
		problems++
		fmt.Fprintf(c.stdout, "FAIL  %s: %s\n      fix: %s\n", f.Check, f.Problem, f.Fix)
	}
	if *synthetic {
		if state == nil {
			return usageError{"--synthetic needs the database or --state FILE to keep the test account's passkey"}
		}
		res := doctor.Synthetic(ctx, cfg, state)
		for _, s := range res.Steps {
			if s.Err == "" {
				fmt.Fprintf(c.stdout, "ok    synthetic: %s (%s)\n", s.Name, s.Duration)
				continue
			}
			problems++
			fmt.Fprintf(c.stdout, "FAIL  synthetic: %s (%s): %s\n", s.Name, s.Duration, s.Err)
		}
	}
	if problems > 0 {
		return fmt.Errorf("%d problem(s) found", problems)
	}
	fmt.Fprintln(c.stdout, "no problems found")
	return nil
}

// fileState keeps the synthetic check's passkey in a file.
type fileState string

func (f fileState) Load(context.Context) ([]byte, error) {
	data, err := os.ReadFile(string(f))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func (f fileState) Save(_ context.Context, data []byte) error {
	return os.WriteFile(string(f), data, 0o600)
}
