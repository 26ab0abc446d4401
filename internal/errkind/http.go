package errkind

import "net/http"

// HTTPStatus is the one mapping of the HTTP front ends (the API, the
// console) from an error's kind to a status: 400, 404, 409, 503. ok is
// false for an error without a kind (a failure of tollgate or of a
// dependency), which each caller answers in its own way.
func HTTPStatus(err error) (code int, ok bool) {
	switch Of(err) {
	case Invalid:
		return http.StatusBadRequest, true
	case NotFound:
		return http.StatusNotFound, true
	case Conflict:
		return http.StatusConflict, true
	case Unavailable:
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}
