// Validator: new users need a given name and a family name of a minimum length.
//
// Configuration of the binding:
// * `min_length` (default 1): the fewest characters each name must have, blanks not counted.
//
// Only `user.human.add` commands are checked; everything else passes.

import { get } from 'warden:plugin/config@0.1.0';
import { log } from 'warden:plugin/log@0.1.0';

export const validation = {
  validate(input) {
    const payload = input.command.payload;
    if (payload.tag !== 'add-human-user') {
      return [];
    }
    const setting = get('min_length') ?? '1';
    const min = Number(setting);
    if (!Number.isInteger(min) || min < 1) {
      // A thrown value is the plugin's error: the call fails and the binding's failure policy decides.
      throw `min_length must be a whole number of at least 1, not ${JSON.stringify(setting)}`;
    }
    const profile = payload.val;
    const violations = [];
    for (const [field, label, value] of [
      ['given_name', 'given name', profile.givenName],
      ['family_name', 'family name', profile.familyName],
    ]) {
      // Count characters, not UTF-16 code units.
      const length = [...(value ?? '').trim()].length;
      if (length < min) {
        violations.push({
          field,
          code: 'profile.name-too-short',
          message: `a ${label} of at least ${min} character${min === 1 ? '' : 's'} is required`,
        });
      }
    }
    if (violations.length > 0) {
      log('info', 'incomplete profile refused', [['username', profile.username]]);
    }
    return violations;
  },
};
