package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/store"
)

// auditCmd exports the audit log as JSON lines.
func auditCmd(ctx context.Context, c *cli, args []string) error {
	if args[0] != "export" {
		return usageError{fmt.Sprintf("unknown subcommand %q\n%s", args[0], auditUsage)}
	}
	fs := c.flags("audit export")
	cfgPath := c.configFlag(fs)
	since := fs.String("since", "", "only events from this `date` (YYYY-MM-DD, or RFC 3339)")
	until := fs.String("until", "", "only events before this `date`")
	kind := fs.String("kind", "", "only events of this `kind`")
	if err := c.parse(fs, args[1:]); err != nil {
		return err
	}
	f := store.AuditFilter{Limit: 1000}
	var err error
	if f.Since, err = parseDate(*since); err != nil {
		return usageError{"--since: " + err.Error()}
	}
	if f.Until, err = parseDate(*until); err != nil {
		return usageError{"--until: " + err.Error()}
	}
	if *kind != "" {
		f.Kinds = []string{*kind}
	}
	_, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	w := bufio.NewWriter(c.stdout)
	enc := json.NewEncoder(w)
	namer := &audit.Namer{Store: st}
	n := 0
	for {
		events, err := st.ListAudit(ctx, f)
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		for _, e := range namer.Name(ctx, events) {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		n += len(events)
		if len(events) < f.Limit {
			break
		}
		f.Before = events[len(events)-1].ID
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "exported %d events\n", n)
	return nil
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD or RFC 3339)", s)
	}
	return t, nil
}
