/**
 * Typed device errors with stable codes, so callers branch on `code`, never on message wording.
 */
export const DEVICE_ERROR_CODES = [
  'DEVICE_OFFLINE',
  'DEVICE_TIMEOUT',
  'DEVICE_BUSY',
  'DEVICE_REJECTED',
  'PROTOCOL_ERROR',
  'NOT_SUPPORTED',
  'COIN_JAM',
  'PAYOUT_FAILED',
  'BILL_JAM',
  'MOTOR_FAULT',
  'CARD_ERROR',
] as const;

export type DeviceErrorCode = (typeof DEVICE_ERROR_CODES)[number];

export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  constructor(
    readonly code: DeviceErrorCode,
    readonly device: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(`${device}: ${message} [${code}]`);
  }
}

export function isDeviceError(e: unknown): e is DeviceError {
  return e instanceof DeviceError;
}
