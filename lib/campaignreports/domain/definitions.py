"""What every metric counts, in the four languages: the definitions a UI shows beside a value.

French follows the campaign report's own wording where it gives one; the other languages are
careful translations. A `failures_<type>` metric's definition is composed from its error
type's description (`ERROR_TYPE_TEXT`).
"""

from __future__ import annotations

# error type -> (en, fr, sv, nl) label, then (en, fr, sv, nl) description
ERROR_TYPE_TEXT: dict[str, tuple[tuple[str, str, str, str], tuple[str, str, str, str]]] = {
    "unknown_user": (
        ("Unknown user", "Utilisateur inconnu", "Okänd användare", "Onbekende gebruiker"),
        (
            "the address is invalid",
            "l'adresse est invalide",
            "adressen är ogiltig",
            "het adres is ongeldig",
        ),
    ),
    "invalid_domain": (
        ("Invalid domain", "Domaine invalide", "Ogiltig domän", "Ongeldig domein"),
        (
            "the address's domain is wrong or no longer exists",
            "le domaine de l'adresse est erroné ou n'existe plus",
            "adressens domän är felaktig eller finns inte längre",
            "het domein van het adres is onjuist of bestaat niet meer",
        ),
    ),
    "mailbox_full": (
        ("Mailbox full", "Boîte pleine", "Full brevlåda", "Mailbox vol"),
        (
            "the recipient's mailbox holds too many messages",
            "la boîte de réception du destinataire contient trop de messages",
            "mottagarens brevlåda innehåller för många meddelanden",
            "de mailbox van de ontvanger bevat te veel berichten",
        ),
    ),
    "account_disabled": (
        ("Account disabled", "Compte désactivé", "Inaktiverat konto", "Account uitgeschakeld"),
        (
            "the address no longer exists",
            "l'adresse n'existe plus",
            "adressen finns inte längre",
            "het adres bestaat niet meer",
        ),
    ),
    "refused": (
        ("Refused", "Refusés", "Avvisade", "Geweigerd"),
        (
            "the provider refused the address, e.g. by an anti-spam rule",
            "l'adresse est refusée par le fournisseur d'accès, par exemple par une règle anti-spam",
            "leverantören avvisade adressen, t.ex. genom en skräppostregel",
            "de provider weigerde het adres, bijvoorbeeld door een antispamregel",
        ),
    ),
    "unreachable": (
        ("Unreachable", "Inatteignable", "Onåbar", "Onbereikbaar"),
        (
            "the delivery chain failed: relay incident, domain temporarily unreachable",
            "incident dans la chaîne de distribution : relais SMTP, domaine temporairement inatteignable",
            "leveranskedjan misslyckades: reläfel, domänen tillfälligt onåbar",
            "de afleverketen faalde: relaisstoring, domein tijdelijk onbereikbaar",
        ),
    ),
    "not_connected": (
        ("Not connected", "Non connecté", "Inte ansluten", "Niet verbonden"),
        (
            "the recipient's phone was off or out of the network",
            "le téléphone du destinataire était éteint ou déconnecté du réseau",
            "mottagarens telefon var avstängd eller utanför nätet",
            "de telefoon van de ontvanger stond uit of had geen netwerk",
        ),
    ),
    "other": (
        ("Other", "Autres", "Övriga", "Overige"),
        (
            "a reason of no type above",
            "une raison d'aucun des types ci-dessus",
            "en orsak av ingen typ ovan",
            "een reden van geen van de typen hierboven",
        ),
    ),
}

_FAILURES_OF_TYPE = (
    "Errors and bounces of type {label}: {description}.",
    "Erreurs et rebonds de type {label} : {description}.",
    "Fel och studsar av typen {label}: {description}.",
    "Fouten en bounces van het type {label}: {description}.",
)

# metric id -> (en, fr, sv, nl)
_DEFINITIONS: dict[str, tuple[str, str, str, str]] = {
    "conversions": (
        "Number of conversions attributed to the campaign (a purchase, a sign-up).",
        "Nombre de conversions attribuées à la campagne (un achat, une inscription).",
        "Antal konverteringar som tillskrivs kampanjen (ett köp, en registrering).",
        "Aantal conversies toegeschreven aan de campagne (een aankoop, een inschrijving).",
    ),
    "converters": (
        "Distinct profiles with at least one conversion.",
        "Nombre de profils distincts ayant au moins une conversion.",
        "Antal unika profiler med minst en konvertering.",
        "Aantal unieke profielen met minstens één conversie.",
    ),
    "conversion_rate": (
        "Converters divided by the messages that reached their recipients.",
        "Profils convertis divisés par les messages ayant atteint leurs destinataires.",
        "Konverterare delat med meddelanden som nådde sina mottagare.",
        "Converteerders gedeeld door de berichten die hun ontvangers bereikten.",
    ),
    "revenue": (
        "Sum of the conversions' values, exact, in one currency.",
        "Somme des valeurs des conversions, exacte, dans une seule devise.",
        "Summan av konverteringarnas värden, exakt, i en valuta.",
        "Som van de waarden van de conversies, exact, in één valuta.",
    ),
    "time_to_open_median": (
        "Half of the profiles that opened first did so within this time of the message's delivery to "
        "them (human opens; within 0.8 % below the exact median).",
        "La moitié des profils ayant ouvert l'ont fait pour la première fois dans ce délai après la "
        "délivrance (ouvertures humaines ; jusqu'à 0,8 % sous la médiane exacte).",
        "Hälften av profilerna som öppnade gjorde det första gången inom denna tid efter leveransen "
        "(mänskliga öppningar; upp till 0,8 % under den exakta medianen).",
        "De helft van de profielen die openden deed dat voor het eerst binnen deze tijd na aflevering "
        "(menselijke opens; tot 0,8 % onder de exacte mediaan).",
    ),
    "time_to_open_p90": (
        "Nine in ten profiles that opened first did so within this time of the message's delivery to "
        "them (human opens; within 0.8 % below the exact percentile).",
        "Neuf profils sur dix ayant ouvert l'ont fait pour la première fois dans ce délai après la "
        "délivrance (ouvertures humaines ; jusqu'à 0,8 % sous le centile exact).",
        "Nio av tio profiler som öppnade gjorde det första gången inom denna tid efter leveransen "
        "(mänskliga öppningar; upp till 0,8 % under den exakta percentilen).",
        "Negen op de tien profielen die openden deden dat voor het eerst binnen deze tijd na aflevering "
        "(menselijke opens; tot 0,8 % onder het exacte percentiel).",
    ),
    "time_to_click_median": (
        "Half of the profiles that clicked first did so within this time of the message's delivery to "
        "them (human clicks; within 0.8 % below the exact median).",
        "La moitié des profils ayant cliqué l'ont fait pour la première fois dans ce délai après la "
        "délivrance (clics humains ; jusqu'à 0,8 % sous la médiane exacte).",
        "Hälften av profilerna som klickade gjorde det första gången inom denna tid efter leveransen "
        "(mänskliga klick; upp till 0,8 % under den exakta medianen).",
        "De helft van de profielen die klikten deed dat voor het eerst binnen deze tijd na aflevering "
        "(menselijke kliks; tot 0,8 % onder de exacte mediaan).",
    ),
    "time_to_click_p90": (
        "Nine in ten profiles that clicked first did so within this time of the message's delivery to "
        "them (human clicks; within 0.8 % below the exact percentile).",
        "Neuf profils sur dix ayant cliqué l'ont fait pour la première fois dans ce délai après la "
        "délivrance (clics humains ; jusqu'à 0,8 % sous le centile exact).",
        "Nio av tio profiler som klickade gjorde det första gången inom denna tid efter leveransen "
        "(mänskliga klick; upp till 0,8 % under den exakta percentilen).",
        "Negen op de tien profielen die klikten deden dat voor het eerst binnen deze tijd na aflevering "
        "(menselijke kliks; tot 0,8 % onder het exacte percentiel).",
    ),
    "entered_profiles": (
        "Distinct profiles that entered the campaign.",
        "Nombre de profils distincts entrés dans la campagne.",
        "Antal unika profiler som gick in i kampanjen.",
        "Aantal unieke profielen dat de campagne binnenkwam.",
    ),
    "targeted": (
        "Total number of targeted recipients.",
        "Nombre total de destinataires ciblés.",
        "Totalt antal mottagare i målgruppen.",
        "Totaal aantal getargete ontvangers.",
    ),
    "excluded": (
        "Addresses set aside when the rules were applied: missing address, quarantined, on a block "
        "list, etc.",
        "Nombre total d'adresses ignorées lors de l'application des règles : adresse manquante, "
        "en quarantaine, en liste bloquée, etc.",
        "Adresser som sorterades bort när reglerna tillämpades: saknad adress, i karantän, på en "
        "spärrlista osv.",
        "Adressen die bij het toepassen van de regels zijn uitgesloten: ontbrekend adres, in quarantaine, "
        "op een blokkeerlijst, enz.",
    ),
    "to_deliver": (
        "Messages to deliver after the rules were applied: targeted minus excluded.",
        "Nombre total de messages à diffuser après l'analyse de la diffusion : ciblés moins rejetés.",
        "Meddelanden att leverera efter att reglerna tillämpats: målgrupp minus uteslutna.",
        "Te bezorgen berichten na het toepassen van de regels: getarget min uitgesloten.",
    ),
    "sent": (
        "Total number of messages sent.",
        "Nombre total de messages traités lors de l'envoi.",
        "Totalt antal skickade meddelanden.",
        "Totaal aantal verzonden berichten.",
    ),
    "delivered": (
        "Messages delivered successfully; its rate is against the messages sent.",
        "Nombre de messages envoyés avec succès, par rapport au nombre total de messages envoyés.",
        "Meddelanden som levererats; andelen räknas mot skickade meddelanden.",
        "Berichten die zijn afgeleverd; het percentage is ten opzichte van de verzonden berichten.",
    ),
    "bounces": (
        "Messages returned after sending (automatic processing of returns); its rate is against the "
        "messages sent.",
        "Nombre d'erreurs du traitement automatique des retours, par rapport au nombre total de "
        "messages envoyés.",
        "Meddelanden som studsade efter sändningen (automatisk returhantering); andelen räknas mot skickade.",
        "Berichten die na verzending terugkwamen (automatische retourverwerking); percentage t.o.v. "
        "verzonden.",
    ),
    "errors": (
        "Errors during sending that kept the message from reaching the profile; rate against "
        "messages to deliver.",
        "Erreurs survenues pendant l'envoi qui ont empêché le message d'atteindre le profil, par rapport aux "
        "messages à diffuser.",
        "Fel under sändningen som hindrade meddelandet från att nå profilen; andelen räknas mot att "
        "leverera.",
        "Fouten tijdens het verzenden waardoor het bericht het profiel niet bereikte; t.o.v. te "
        "bezorgen berichten.",
    ),
    "failures": (
        "Errors during sending plus returns processed afterwards (bounces); its rate is against the "
        "messages sent.",
        "Nombre total d'erreurs cumulées lors des diffusions et du traitement automatique des retours, par "
        "rapport au nombre total de messages envoyés.",
        "Fel under sändningen plus returer som hanterats efteråt (studsar); andelen räknas mot skickade.",
        "Fouten tijdens het verzenden plus achteraf verwerkte retouren (bounces); percentage t.o.v. "
        "verzonden.",
    ),
    "execution_errors": (
        "Errors during sending plus returns processed afterwards (bounces); rate against the "
        "messages to deliver.",
        "Nombre total d'erreurs cumulées lors des diffusions et du traitement automatique des retours, par "
        "rapport au nombre de messages à diffuser.",
        "Fel under sändningen plus returer som hanterats efteråt (studsar); andelen räknas mot att leverera.",
        "Fouten tijdens het verzenden plus achteraf verwerkte retouren (bounces); t.o.v. te bezorgen "
        "berichten.",
    ),
    "successes": (
        "Messages delivered successfully; its rate is against the messages to deliver.",
        "Nombre de messages traités avec succès par rapport au nombre de messages à diffuser.",
        "Meddelanden som levererats; andelen räknas mot meddelanden att leverera.",
        "Berichten die zijn afgeleverd; het percentage is ten opzichte van de te bezorgen berichten.",
    ),
    "new_quarantines": (
        "Addresses quarantined after a failed delivery (unknown user, invalid domain); rate against messages "
        "to deliver.",
        "Nombre total d'adresses mises en quarantaine à la suite d'un échec de diffusion "
        "(utilisateur inconnu, "
        "domaine invalide) par rapport au nombre de messages à diffuser.",
        "Adresser som satts i karantän efter en misslyckad leverans (okänd användare, ogiltig "
        "domän); andelen "
        "räknas mot att leverera.",
        "Adressen in quarantaine na een mislukte aflevering (onbekende gebruiker, ongeldig domein); "
        "t.o.v. te "
        "bezorgen berichten.",
    ),
    "opens": (
        "Number of times a message was opened (machine opens excluded unless asked for).",
        "Nombre de fois où un message a été ouvert (hors ouvertures automatiques, sauf demande).",
        "Antal gånger ett meddelande öppnades (maskinöppningar undantagna om inget annat begärs).",
        "Aantal keren dat een bericht werd geopend (machine-opens niet meegeteld, tenzij gevraagd).",
    ),
    "distinct_opens": (
        "Recipients who opened the message at least once; its rate is against the messages delivered.",
        "Nombre total de destinataires ciblés ayant ouvert au moins une fois un même message.",
        "Mottagare som öppnade meddelandet minst en gång; andelen räknas mot levererade.",
        "Ontvangers die het bericht minstens één keer openden; het percentage is t.o.v. afgeleverd.",
    ),
    "clicks": (
        "Total number of clicks on the links of the message.",
        "Nombre total de clics sur les liens dans les diffusions.",
        "Totalt antal klick på meddelandets länkar.",
        "Totaal aantal kliks op de links in het bericht.",
    ),
    "distinct_clicks": (
        "Recipients who clicked at least once in the message; its rate is against the messages delivered.",
        "Nombre total de destinataires distincts ayant cliqué au moins une fois dans une même diffusion.",
        "Mottagare som klickade minst en gång i meddelandet; andelen räknas mot levererade.",
        "Ontvangers die minstens één keer in het bericht klikten; het percentage is t.o.v. afgeleverd.",
    ),
    "machine_opens": (
        "Opens flagged as made by a machine (a mail privacy proxy or a security scanner).",
        "Ouvertures signalées comme faites par une machine (proxy de confidentialité, analyseur de "
        "sécurité).",
        "Öppningar markerade som gjorda av en maskin (integritetsproxy eller säkerhetsskanner).",
        "Opens gemarkeerd als gedaan door een machine (privacyproxy of beveiligingsscanner).",
    ),
    "machine_clicks": (
        "Clicks flagged as made by a machine (a security scanner following links).",
        "Clics signalés comme faits par une machine (analyseur de sécurité qui suit les liens).",
        "Klick markerade som gjorda av en maskin (säkerhetsskanner som följer länkar).",
        "Kliks gemarkeerd als gedaan door een machine (beveiligingsscanner die links volgt).",
    ),
    "unsubscribes": (
        "Clicks on the unsubscription link.",
        "Nombre de clics sur le lien de désinscription.",
        "Antal klick på länken för att avsluta prenumerationen.",
        "Aantal kliks op de afmeldlink.",
    ),
    "spam_complaints": (
        "Number of times a message was declared as spam or junk.",
        "Nombre de messages signalés par le destinataire comme indésirables.",
        "Antal gånger ett meddelande anmäldes som skräppost.",
        "Aantal keren dat een bericht als spam of ongewenst werd gemeld.",
    ),
    "mirror_page_views": (
        "Clicks on the link to the mirror page.",
        "Nombre de clics sur le lien vers la page miroir.",
        "Antal klick på länken till spegelsidan.",
        "Aantal kliks op de link naar de spiegelpagina.",
    ),
    "forwards": (
        "Estimated number of emails the recipients forwarded.",
        "Estimation du nombre d'emails transférés par les destinataires ciblés.",
        "Uppskattat antal e-postmeddelanden som mottagarna vidarebefordrade.",
        "Geschat aantal e-mails dat de ontvangers hebben doorgestuurd.",
    ),
    "actions": (
        "Taps on the buttons of a push notification.",
        "Nombre d'appuis sur les boutons d'une notification push.",
        "Antal tryck på knapparna i en push-notis.",
        "Aantal tikken op de knoppen van een pushmelding.",
    ),
    "engagements": (
        "Opens plus actions of the push notification.",
        "Ouvertures plus actions de la notification push.",
        "Öppningar plus åtgärder för push-notisen.",
        "Opens plus acties van de pushmelding.",
    ),
    "impressions": (
        "Number of times the message was displayed.",
        "Nombre de fois où le message a été affiché.",
        "Antal gånger meddelandet visades.",
        "Aantal keren dat het bericht werd getoond.",
    ),
    "unique_impressions": (
        "Distinct profiles the message was displayed to.",
        "Nombre de profils distincts auxquels le message a été affiché.",
        "Antal unika profiler som meddelandet visades för.",
        "Aantal unieke profielen aan wie het bericht werd getoond.",
    ),
    "interactions": (
        "Number of interactions with the message.",
        "Nombre d'interactions avec le message.",
        "Antal interaktioner med meddelandet.",
        "Aantal interacties met het bericht.",
    ),
    "distinct_profiles": (
        "Distinct profiles that interacted with the message.",
        "Nombre de profils distincts ayant interagi avec le message.",
        "Antal unika profiler som interagerade med meddelandet.",
        "Aantal unieke profielen dat met het bericht interageerde.",
    ),
    "open_rate": (
        "Distinct opens divided by messages delivered.",
        "Ouvertures distinctes divisées par les messages délivrés.",
        "Unika öppningar delat med levererade meddelanden.",
        "Unieke opens gedeeld door afgeleverde berichten.",
    ),
    "click_rate": (
        "Distinct clicks divided by messages delivered.",
        "Clics distincts divisés par les messages délivrés.",
        "Unika klick delat med levererade meddelanden.",
        "Unieke kliks gedeeld door afgeleverde berichten.",
    ),
    "reactivity": (
        "Recipients who clicked at least once, divided by recipients who opened at least once.",
        "Pourcentage du nombre de destinataires ayant cliqué au moins une fois par rapport au nombre de "
        "destinataires ayant ouvert au moins une fois une même diffusion.",
        "Mottagare som klickade minst en gång, delat med mottagare som öppnade minst en gång.",
        "Ontvangers die minstens één keer klikten, gedeeld door ontvangers die minstens één keer openden.",
    ),
    "delivered_reactivity": (
        "Recipients who clicked at least once, divided by messages delivered (an SMS has no open: the "
        "recipients who received it stand in for those who opened it).",
        "Destinataires ayant cliqué au moins une fois, divisés par les messages délivrés (un SMS n'a pas "
        "d'ouverture : les destinataires qui l'ont reçu tiennent lieu de ceux qui l'ont ouvert).",
        "Mottagare som klickade minst en gång, delat med levererade meddelanden (ett sms har ingen öppning: "
        "mottagarna som fick det räknas som de som öppnade det).",
        "Ontvangers die minstens één keer klikten, gedeeld door afgeleverde berichten (een sms heeft geen "
        "open: de ontvangers die het kregen tellen als degenen die het openden).",
    ),
    "delivered_rate": (
        "Messages delivered divided by messages sent.",
        "Messages délivrés divisés par les messages envoyés.",
        "Levererade meddelanden delat med skickade.",
        "Afgeleverde berichten gedeeld door verzonden berichten.",
    ),
    "bounce_rate": (
        "Bounces divided by messages sent.",
        "Rebonds divisés par les messages envoyés.",
        "Studsar delat med skickade meddelanden.",
        "Bounces gedeeld door verzonden berichten.",
    ),
    "error_rate": (
        "Errors divided by messages to deliver.",
        "Erreurs divisées par les messages à diffuser.",
        "Fel delat med meddelanden att leverera.",
        "Fouten gedeeld door te bezorgen berichten.",
    ),
    "quarantine_rate": (
        "New quarantines divided by messages to deliver.",
        "Nouvelles quarantaines divisées par les messages à diffuser.",
        "Nya karantäner delat med meddelanden att leverera.",
        "Nieuwe quarantaines gedeeld door te bezorgen berichten.",
    ),
    "unsubscribe_rate": (
        "Unsubscribes divided by messages delivered.",
        "Désabonnements divisés par les messages délivrés.",
        "Avregistreringar delat med levererade meddelanden.",
        "Afmeldingen gedeeld door afgeleverde berichten.",
    ),
    "complaint_rate": (
        "Spam complaints divided by messages delivered.",
        "Plaintes divisées par les messages délivrés.",
        "Skräppostklagomål delat med levererade meddelanden.",
        "Spamklachten gedeeld door afgeleverde berichten.",
    ),
    "share": (
        "This link's clicks divided by the clicks on every link.",
        "Clics sur ce lien divisés par les clics sur tous les liens.",
        "Klick på den här länken delat med klick på alla länkar.",
        "Kliks op deze link gedeeld door de kliks op alle links.",
    ),
    "mail_sent": (
        "Direct mail pieces sent.",
        "Courriers envoyés.",
        "Skickade direktreklamsutskick.",
        "Verzonden direct-mailstukken.",
    ),
    "reached": (
        "What reached its recipient: messages delivered (email, SMS, push), in-app messages and web "
        "experiences shown (impressions), and direct mail pieces sent (mail has no delivery receipt).",
        "Ce qui a atteint son destinataire : messages délivrés (email, SMS, push), messages in-app et "
        "expériences web affichés (impressions) et courriers envoyés (le courrier n'a pas d'accusé de "
        "réception).",
        "Det som nådde sin mottagare: levererade meddelanden (e-post, sms, push), visade in-app-meddelanden "
        "och webbupplevelser (visningar) och skickade brev (brev har inget leveranskvitto).",
        "Wat de ontvanger bereikte: afgeleverde berichten (e-mail, sms, push), getoonde in-appberichten en "
        "webervaringen (vertoningen) en verzonden post (post heeft geen ontvangstbevestiging).",
    ),
    "open_rate_lift": (
        "The treatment's open rate minus the control's, relative to the control's.",
        "Taux d'ouverture du traitement moins celui du contrôle, rapporté à celui du contrôle.",
        "Behandlingens öppningsgrad minus kontrollens, i förhållande till kontrollens.",
        "Openratio van de behandeling min die van de controle, relatief t.o.v. de controle.",
    ),
    "click_rate_lift": (
        "The treatment's click rate minus the control's, relative to the control's.",
        "Taux de clic du traitement moins celui du contrôle, rapporté à celui du contrôle.",
        "Behandlingens klickfrekvens minus kontrollens, i förhållande till kontrollens.",
        "Klikratio van de behandeling min die van de controle, relatief t.o.v. de controle.",
    ),
    "open_rate_p_value": (
        "Probability of an open-rate difference this large by chance (two-sided two-proportion test).",
        "Probabilité d'un tel écart de taux d'ouverture par hasard (test bilatéral de deux proportions).",
        "Sannolikheten för en så stor skillnad i öppningsgrad av en slump (tvåsidigt test av två andelar).",
        "Kans op een zo groot verschil in openratio door toeval (tweezijdige toets van twee proporties).",
    ),
    "click_rate_p_value": (
        "Probability of a click-rate difference this large by chance (two-sided two-proportion test).",
        "Probabilité d'un tel écart de taux de clic par hasard (test bilatéral de deux proportions).",
        "Sannolikheten för en så stor skillnad i klickfrekvens av en slump (tvåsidigt test av två andelar).",
        "Kans op een zo groot verschil in klikratio door toeval (tweezijdige toets van twee proporties).",
    ),
    "significant": (
        "1 when the click-rate difference to the control is significant (Bonferroni-corrected 5%).",
        "1 si l'écart de taux de clic avec le contrôle est significatif (5 % corrigé par Bonferroni).",
        "1 när skillnaden i klickfrekvens mot kontrollen är signifikant (5 %, Bonferroni-korrigerad).",
        "1 als het verschil in klikratio met de controle significant is (5%, Bonferroni-gecorrigeerd).",
    ),
    "winner": (
        "1 for the treatment whose click rate beats every other one significantly.",
        "1 pour le traitement dont le taux de clic dépasse significativement tous les autres.",
        "1 för den behandling vars klickfrekvens är signifikant bättre än alla andras.",
        "1 voor de behandeling waarvan de klikratio alle andere significant overtreft.",
    ),
}


def _failures_of_type(
    labels: tuple[str, str, str, str], descriptions: tuple[str, str, str, str]
) -> tuple[str, str, str, str]:
    english, french, swedish, dutch = (
        template.format(label=label, description=description)
        for template, label, description in zip(_FAILURES_OF_TYPE, labels, descriptions, strict=True)
    )
    return english, french, swedish, dutch


DEFINITIONS: dict[str, tuple[str, str, str, str]] = _DEFINITIONS | {
    f"failures_{kind}": _failures_of_type(labels, descriptions)
    for kind, (labels, descriptions) in ERROR_TYPE_TEXT.items()
}
