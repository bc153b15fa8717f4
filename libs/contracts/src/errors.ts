/** Error body every 4xx/5xx response carries, so clients (the agent, the dashboard) can branch on `code`. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: unknown;
  requestId: string;
}
