"""The ordered steps every inbound text goes through, and the seams between them.

ingress.accept  ->  job (ordered per conversation)  ->  steps.process_inbound:
    compliance (consent first, always)  ->  responder (reply or hand off)  ->  outbound
"""
