package codec

import (
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// Completing a request and saving its code are single conditional
// UPDATEs; when one changes nothing, the request's state read back says
// why. err is the error of that read, mapped to the store's sentinels.

// Incomplete is why a request could not be completed.
func Incomplete(err error, done bool, expiresAt int64, now time.Time) error {
	switch {
	case err != nil:
		return err
	case expiresAt <= now.Unix():
		return fmt.Errorf("expired: %w", store.ErrNotFound)
	case done:
		return fmt.Errorf("already done: %w", store.ErrConflict)
	}
	return fmt.Errorf("not completed: %w", store.ErrConflict)
}

// NoCode is why a request's code could not be saved.
func NoCode(err error, done, hasCode bool) error {
	switch {
	case err != nil:
		return err
	case hasCode:
		return fmt.Errorf("code already issued: %w", store.ErrConflict)
	case !done:
		return fmt.Errorf("request is not done: %w", store.ErrConflict)
	}
	return fmt.Errorf("code not saved: %w", store.ErrConflict)
}
