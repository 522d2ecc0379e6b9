"""What answers mean, judged in one place for every suite.

A probe's answer becomes an ``Observation``: *accepted*, *refused*, *sent to login*, *throttled* or
*unreadable*, each with the reason and the exchange that shows it (``answers``). Token endpoint answers are
read in ``token``, authorization endpoint answers in ``authorization``, protected resources' answers (userinfo,
APIs) in ``resource``, introspection and revocation answers in ``token_state``, and whether an advertised endpoint
answers at all in ``endpoint``; ``throttle`` says when an answer means "not now". What a probe proves against its
control request is decided by the probes that send both (``probes.authorization``, ``probes.client_auth``). The
suites describe what to compare; none of them reads a status code or an error string to decide whether a request was
accepted. A status is read directly only where it is itself the requirement (a document served with 200, RFC 6750's
401 for a request without a token).
"""

from .answers import Kind, NotEvaluated, Observation
from .authorization import observe_authorization
from .endpoint import EndpointAnswer, Presence, observe_endpoint
from .resource import Challenges, challenges, observe_resource
from .token import observe_token, rfc6749_error_problems
from .token_state import introspected_state, observe_introspection, observe_revocation

__all__ = ["Challenges", "EndpointAnswer", "Kind", "NotEvaluated", "Observation", "Presence",
           "challenges", "introspected_state", "observe_authorization", "observe_endpoint",
           "observe_introspection", "observe_resource", "observe_revocation", "observe_token", "rfc6749_error_problems"]
