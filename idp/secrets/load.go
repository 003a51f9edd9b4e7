package secrets

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/communityidp/idp/config"
)

// DevKeyFile is the name of the KEK the development provider creates.
const DevKeyFile = "idp-secrets.key"

// Load reads the configured KEK and older ones. The development provider
// (an http issuer on this machine) without one gets one created next to
// its SQLite database, else next to its configuration file, else in the
// working directory, and is told so in the log.
func Load(cfg config.Config) (*Keyring, error) {
	s := cfg.Secrets
	var (
		current []byte
		err     error
	)
	switch {
	case s.Key != "":
		if current, err = ParseKey([]byte(s.Key)); err != nil {
			return nil, fmt.Errorf("secrets.key: %w", err)
		}
	case s.KeyFile != "":
		if current, err = readKeyFile(s.KeyFile); err != nil {
			return nil, fmt.Errorf("secrets.key_file: %w", err)
		}
	case cfg.Development():
		path := devKeyPath(cfg)
		if err := NewKeyFile(path); err == nil {
			slog.Warn("created a key-encryption key for the development provider; keep it with the database (without it the database cannot be used), never in it",
				"file", path)
		} else if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create the development key-encryption key %s: %w", path, err)
		}
		if current, err = readKeyFile(path); err != nil {
			return nil, fmt.Errorf("the development key-encryption key: %w", err)
		}
	default:
		return nil, errors.New("secrets.key_file: required with an https issuer")
	}
	var old [][]byte
	for i, f := range s.OldKeyFiles {
		k, err := readKeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("secrets.old_key_files[%d]: %w", i, err)
		}
		old = append(old, k)
	}
	return NewKeyring(current, old...)
}

// readKeyFile reads a KEK file and warns when others may read it.
func readKeyFile(path string) ([]byte, error) {
	k, err := ReadKeyFile(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		slog.Warn("the key-encryption key file can be read by other users; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	return k, nil
}

func devKeyPath(cfg config.Config) string {
	switch {
	case cfg.Database.Driver == "sqlite" && cfg.Database.DSN != "":
		if abs, err := filepath.Abs(cfg.Database.DSN); err == nil {
			return filepath.Join(filepath.Dir(abs), DevKeyFile)
		}
	case cfg.File != "":
		return filepath.Join(filepath.Dir(cfg.File), DevKeyFile)
	}
	return DevKeyFile
}
