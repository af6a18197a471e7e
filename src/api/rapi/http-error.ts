import { asCorralError, type ErrorCode } from '../../common/errors.js';

/** Ganeti's short text and explanation for each status it answers with (BaseHTTPServer's table). */
const statusTexts: Record<number, readonly [string, string]> = {
  400: ['Bad Request', 'Bad request syntax or unsupported method'],
  401: ['Unauthorized', 'No permission -- see authorization schemes'],
  403: ['Forbidden', 'Request forbidden -- authorization will not help'],
  404: ['Not Found', 'Nothing matches the given URI'],
  405: ['Method Not Allowed', 'Specified method is invalid for this resource.'],
  411: ['Length Required', 'Client must specify Content-Length.'],
  413: ['Request Entity Too Large', 'Entity is too large.'],
  415: ['Unsupported Media Type', 'Entity body in unsupported format.'],
  500: ['Internal Server Error', 'Server got itself in trouble'],
  501: ['Not Implemented', 'Server does not support this operation'],
  502: ['Bad Gateway', 'Invalid responses from another server/proxy.'],
  503: ['Service Unavailable', 'The server cannot process the request due to a high load'],
  504: ['Gateway Timeout', 'The gateway server did not receive a timely response'],
};

/** An answer other than 200, in Ganeti's error body: `{code, message, explain}`. */
export class RapiError extends Error {
  override readonly name = 'RapiError';
  constructor(
    readonly status: number,
    message?: string,
  ) {
    super(message ?? statusTexts[status]?.[0] ?? 'Error');
  }

  body(): { code: number; message: string; explain: string } {
    return {
      code: this.status,
      message: escapeHtml(this.message),
      explain: statusTexts[this.status]?.[1] ?? '',
    };
  }
}

/** Ganeti escapes its messages as HTML (`&quot;`, `&#x27;`); clients unescape what they show. */
function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#x27' }[c]};`,
  );
}

/** How a refusal from the cluster reads over RAPI: the status Ganeti gives the same failure. */
const statusOfCode: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  not_found: 404,
  conflict: 400,
  unavailable: 502,
  not_leader: 502,
  unreachable: 502,
  timeout: 504,
  aborted: 504,
};

export function asRapiError(error: unknown): RapiError {
  if (error instanceof RapiError) return error;
  const corral = asCorralError(error);
  return new RapiError(statusOfCode[corral.code] ?? 500, corral.message);
}
