package oidcop

import (
	"context"

	"github.com/communityidp/idp/idp/store"
)

// A token request reads its member twice through op's storage calls: to
// check the account may still get tokens, then for the ID token's claims.
// withUserMemo lets one request load the member once.
type userMemoKey struct{}

type userMemo struct{ u *store.User }

func withUserMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, userMemoKey{}, &userMemo{})
}

// user loads the member with this id, once per request that carries a memo.
func (s *Storage) user(ctx context.Context, id string) (*store.User, error) {
	m, _ := ctx.Value(userMemoKey{}).(*userMemo)
	if m != nil && m.u != nil && m.u.ID == id {
		return m.u, nil
	}
	u, err := s.store.UserByID(ctx, id)
	if err == nil && m != nil {
		m.u = u
	}
	return u, err
}
