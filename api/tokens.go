package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// tokenView is a token as GET /v1/tokens shows it: never the hash.
type tokenView struct {
	store.Token
	State string `json:"state"` // active, expired or revoked
}

// listTokens shows the stored tokens (not those in the configuration
// file), with expiry, revocation and last use; use this node saw but has
// not yet flushed to the store is included.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.st.ListTokens(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	seen := s.peekTokenUse()
	now := time.Now()
	out := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		if u := seen[t.Name]; u.After(t.LastUsed) && t.Revoked.IsZero() {
			t.LastUsed = u
		}
		v := tokenView{Token: t, State: "active"}
		switch {
		case !t.Revoked.IsZero():
			v.State = "revoked"
		case !t.Expires.IsZero() && !now.Before(t.Expires):
			v.State = "expired"
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// peekTokenUse is TokenUse without marking anything flushed.
func (s *Server) peekTokenUse() map[string]time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]time.Time{}
	for _, st := range s.tokens {
		if u := st.used.Load(); u != 0 {
			if t := time.Unix(u, 0).UTC(); t.After(out[st.p.Name]) {
				out[st.p.Name] = t
			}
		}
	}
	return out
}

// revokeToken revokes a stored token: refused on this node at once, on
// other nodes sharing the store at their next reload (at once in cluster
// mode, which sends a change notice; within a second otherwise).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" || len(name) > 128 {
		fieldError(w, "name", "want 1 to 128 bytes")
		return
	}
	if err := s.st.RevokeToken(r.Context(), name, time.Now().UTC()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, errorBody{Error: "no active stored token " + quoteID(name) + " (tokens in the configuration file are removed there)", Field: "name"})
			return
		}
		storeError(w, err)
		return
	}
	s.dropToken(name)
	if s.onTokens != nil {
		s.onTokens()
	}
	if err := s.recordAudit(r.Context(), r, "token.revoke", "token/"+name, map[string]string{"name": name}); err != nil {
		s.log.Error("api: audit", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "revoked": true})
}
