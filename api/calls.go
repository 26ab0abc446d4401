package api

import (
	"net/http"

	"github.com/tollgate-voip/tollgate/sipfront"
)

// CallControl is what the SIP front end in proxy mode offers over the
// calls it carries (sipfront.Server).
type CallControl interface {
	Calls() []sipfront.CallInfo
	Disconnect(callID string) bool
	DisconnectExtension(tenant, extension string) int
}

type callAPI struct {
	s *Server
	c CallControl
}

// EnableCallControl adds the live-call routes of the SIP proxy: list the
// calls it carries, disconnect one, disconnect every call of an
// extension. Call it before serving. A node carries only the calls that
// went through its own proxy, so the routes answer for this node.
func (s *Server) EnableCallControl(c CallControl) {
	a := &callAPI{s: s, c: c}
	s.mux.HandleFunc("GET /v1/calls", s.auth(RoleRead, a.list))
	s.mux.HandleFunc("POST /v1/calls/{call_id}/disconnect", s.auth(RoleAdmin, a.disconnect))
	s.mux.HandleFunc("POST /v1/extensions/{tenant}/{extension}/disconnect", s.auth(RoleAdmin, a.disconnectExtension))
}

func (a *callAPI) list(w http.ResponseWriter, r *http.Request) {
	calls := a.c.Calls()
	if calls == nil {
		calls = []sipfront.CallInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": calls})
}

func (a *callAPI) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("call_id")
	if id == "" || len(id) > 256 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "call_id: want 1 to 256 bytes", Field: "call_id"})
		return
	}
	if !a.c.Disconnect(id) {
		writeError(w, http.StatusNotFound, "no live call "+quoteID(id)+" through this node's SIP proxy")
		return
	}
	if err := a.s.recordAudit(r.Context(), r, "call.disconnect", id, map[string]string{"call_id": id}); err != nil {
		a.s.log.Error("api: audit", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_id": id, "disconnected": 1})
}

func (a *callAPI) disconnectExtension(w http.ResponseWriter, r *http.Request) {
	tenant, ext := r.PathValue("tenant"), r.PathValue("extension")
	for _, f := range [...]struct{ name, v string }{{"tenant", tenant}, {"extension", ext}} {
		if f.v == "" || len(f.v) > 64 {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: f.name + ": want 1 to 64 bytes", Field: f.name})
			return
		}
	}
	n := a.c.DisconnectExtension(tenant, ext)
	if err := a.s.recordAudit(r.Context(), r, "extension.disconnect", tenant+"/"+ext, map[string]any{"tenant": tenant, "extension": ext, "calls": n}); err != nil {
		a.s.log.Error("api: audit", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": tenant, "extension": ext, "disconnected": n})
}

// quoteID bounds and quotes an id for an error message.
func quoteID(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}
