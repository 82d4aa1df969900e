// AI Studio sends a signed-out visitor to Google's sign-in pages (provider-wire-formats §8.1),
// so the lane's page already shows them: their identifier or password field.
const google = sy.first('input#identifierId, input[type=email], input[name=Passwd], input[type=password]');
return google ? { state: 'flow' } : { state: 'no_form' };
